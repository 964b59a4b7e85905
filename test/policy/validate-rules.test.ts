/**
 * spec.rules documents that load, in both forms, and what they load as. The passing cases are
 * those of Kuma v2.14.3 pkg/plugins/policies/meshtrafficpermission/api/v1alpha1/validator_test.go
 * ("should pass validation"); the failing ones are fixtures under test/fixtures/invalid/rules-*.
 */
import { describe, expect, it } from 'vitest';
import { formatIssue } from '../../src/policy/errors.js';
import { loadPolicyTexts } from '../../src/policy/load.js';
import type { MeshTrafficPermission } from '../../src/policy/types.js';

function loadOne(text: string): MeshTrafficPermission {
  const result = loadPolicyTexts([{ file: 'p.yaml', text }]);
  if (!result.ok) throw new Error(result.errors.map(formatIssue).join('\n'));
  const policy = result.set.policies[0];
  if (policy === undefined) throw new Error('no policy loaded');
  return policy;
}

const universal = (spec: string): string => `type: MeshTrafficPermission\nname: p\nspec:\n${spec}`;

describe('spec.rules that Kuma accepts', () => {
  it('"full rules example": deny, allow and allowWithShadowDeny lists', () => {
    const policy = loadOne(
      universal(`  targetRef:
    kind: Mesh
  rules:
    - default:
        deny:
          - spiffeID: {type: Exact, value: spiffe://trust.domain/service}
        allow:
          - spiffeID: {type: Prefix, value: spiffe://trust.domain}
        allowWithShadowDeny:
          - spiffeID: {type: Exact, value: spiffe://trust.domain/service-2}
`),
    );
    expect(policy.from).toEqual([]);
    expect(policy.rules).toEqual([
      {
        deny: [{ spiffeID: { type: 'Exact', value: 'spiffe://trust.domain/service' } }],
        allow: [{ spiffeID: { type: 'Prefix', value: 'spiffe://trust.domain' } }],
        allowWithShadowDeny: [{ spiffeID: { type: 'Exact', value: 'spiffe://trust.domain/service-2' } }],
      },
    ]);
  });

  it('"sni-only allow" and "spiffeID and sni combined in the same match", on a Dataplane section', () => {
    const policy = loadOne(
      universal(`  targetRef:
    kind: Dataplane
    sectionName: ze-port
  rules:
    - default:
        allow:
          - sni: {type: Exact, value: sni.extsvc.default.zone-1.aws-aurora.8443}
          - spiffeID: {type: Exact, value: spiffe://default/ns/backend-ns/sa/backend}
            sni: {type: Exact, value: sni.extsvc.default.zone-1.aws-aurora.8443}
`),
    );
    expect(policy.targetRef).toEqual({ kind: 'Dataplane', sectionName: 'ze-port' });
    expect(policy.rules?.[0]?.allow).toEqual([
      { sni: { type: 'Exact', value: 'sni.extsvc.default.zone-1.aws-aurora.8443' } },
      {
        spiffeID: { type: 'Exact', value: 'spiffe://default/ns/backend-ns/sa/backend' },
        sni: { type: 'Exact', value: 'sni.extsvc.default.zone-1.aws-aurora.8443' },
      },
    ]);
  });

  it('reads the Kubernetes form the same way and keeps the namespace a Dataplane name resolves in', () => {
    const policy = loadOne(`apiVersion: kuma.io/v1alpha1
kind: MeshTrafficPermission
metadata:
  name: p
  namespace: kuma-demo
  labels: {kuma.io/mesh: demo}
spec:
  targetRef: {kind: Dataplane, name: backend-7c9d}
  from: []
  rules:
    - default:
        allow:
          - spiffeID: {type: Exact, value: spiffe://demo.zone-1.mesh.local/ns/kuma-demo/sa/web}
`);
    expect(policy).toMatchObject({
      mesh: 'demo',
      namespace: 'kuma-demo',
      form: 'kubernetes',
      targetRef: { kind: 'Dataplane', name: 'backend-7c9d' },
      from: [],
    });
    expect(policy.rules).toHaveLength(1);
  });

  it('keeps a from policy with an empty rules list a from policy', () => {
    const policy = loadOne(
      universal('  rules: []\n  from:\n    - targetRef: {kind: Mesh}\n      default: {action: Deny}\n'),
    );
    expect(policy.rules).toBeUndefined();
    expect(policy.from).toEqual([{ targetRef: { kind: 'Mesh' }, action: 'Deny' }]);
  });

  it('accepts a Dataplane selected by labels, and by name and namespace', () => {
    const rule =
      '  rules:\n    - default:\n        deny: [{spiffeID: {type: Exact, value: "spiffe://a/b"}}]\n';
    expect(
      loadOne(universal(`  targetRef: {kind: Dataplane, labels: {app: web}}\n${rule}`)).targetRef,
    ).toEqual({
      kind: 'Dataplane',
      labels: { app: 'web' },
    });
    expect(
      loadOne(universal(`  targetRef: {kind: Dataplane, name: web-1, namespace: demo}\n${rule}`)).targetRef,
    ).toEqual({ kind: 'Dataplane', name: 'web-1', namespace: 'demo' });
  });
});
