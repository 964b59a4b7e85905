/** Policy files as an operator writes them, for tests that serve them from disk. */

/** Allows every client to every inbound of mesh `default`. */
export const ALLOW_ALL_YAML = `type: MeshTrafficPermission
name: allow-all
spec:
  targetRef: {kind: Mesh}
  from:
    - targetRef: {kind: Mesh}
      default: {action: Allow}
`;
