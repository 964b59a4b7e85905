/** The policies the console tests serve: mesh `default`, inbound `backend` (app=payments). */
export const CONSOLE_POLICIES = `
type: MeshTrafficPermission
name: deny-all
mesh: default
spec:
  targetRef: {kind: Mesh}
  from:
    - targetRef: {kind: Mesh}
      default: {action: Deny}
---
type: MeshTrafficPermission
name: allow-orders
mesh: default
labels:
  kuma.io/origin: zone
spec:
  targetRef: {kind: MeshService, name: backend}
  from:
    - targetRef: {kind: MeshService, name: orders}
      default: {action: Allow}
    - targetRef: {kind: MeshSubset, tags: {kuma.io/service: orders, version: v2}}
      default: {action: Deny}
    - targetRef: {kind: MeshService, name: orders}
      default: {action: Allow}
    - targetRef: {kind: MeshService, name: audit}
      default: {action: AllowWithShadowDeny}
---
type: MeshTrafficPermission
name: a-deny-orders
mesh: default
labels:
  kuma.io/effect: shadow
  kuma.io/origin: zone
spec:
  targetRef: {kind: MeshService, name: backend}
  from:
    - targetRef: {kind: MeshService, name: orders}
      default: {action: Deny}
`;

/** A policy file whose name is markup: the console must show it as text. */
export const MARKUP_FILE_NAME = '<img src=x class=injected>.yaml';

export const MARKUP_POLICY = `
type: MeshTrafficPermission
name: markup-file
mesh: default
spec:
  targetRef: {kind: MeshService, name: markup}
  from:
    - targetRef: {kind: Mesh}
      default: {action: Allow}
`;
