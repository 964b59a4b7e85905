/** A ConfigMap manifest read as the files its mount would hold (`validate` of a manifest). */
import { describe, expect, it } from 'vitest';
import { formatIssue } from '../../src/policy/errors.js';
import { configMapContent } from '../../src/policy/configmap.js';

const MANIFEST = `apiVersion: v1
kind: ConfigMap
metadata: {name: policies}
data:
  allow.yaml: |
    type: MeshTrafficPermission
    name: allow
    spec: {from: [{targetRef: {kind: Mesh}, default: {action: Allow}}]}
  README: not a policy
`;

describe('configMapContent', () => {
  it('is undefined for anything but a ConfigMap', () => {
    expect(configMapContent('p.yaml', 'type: MeshTrafficPermission\nname: a\n')).toBeUndefined();
    expect(configMapContent('p.yaml', 'not: [valid')).toBeUndefined();
    expect(configMapContent('p.yaml', '')).toBeUndefined();
  });

  it('gives each policy key as a text named MANIFEST[KEY], and warns of the others', () => {
    const content = configMapContent('cm.yaml', MANIFEST);
    expect(content?.texts).toEqual([
      {
        file: 'cm.yaml[allow.yaml]',
        text: 'type: MeshTrafficPermission\nname: allow\nspec: {from: [{targetRef: {kind: Mesh}, default: {action: Allow}}]}\n',
      },
    ]);
    expect(content?.warnings.map(formatIssue)).toEqual([
      'cm.yaml:9:3: file: data key "README" is skipped: mounted, only names ending in .yaml, .yml or .json are read',
    ]);
    expect(content?.errors).toEqual([]);
  });

  it('another kind beside the ConfigMap is an error at that document', () => {
    const content = configMapContent('cm.yaml', `${MANIFEST}---\nkind: Secret\n`);
    expect(content?.errors.map(formatIssue)).toEqual([
      'cm.yaml:11:1: file: a ConfigMap manifest holds only ConfigMap documents',
    ]);
  });

  it('puts an issue of a | block back at its line and column in the manifest; others stay in the key', () => {
    const manifest = `${MANIFEST}  inline.yaml: "type: Mesh\\nname: x"\n`;
    const content = configMapContent('cm.yaml', manifest);
    const issue = { file: 'cm.yaml[allow.yaml]', line: 3, col: 7, path: 'spec', message: 'm' };
    expect(content?.remap(issue)).toEqual({ ...issue, file: 'cm.yaml', line: 8, col: 11 });
    const inline = { ...issue, file: 'cm.yaml[inline.yaml]', line: 2 };
    expect(content?.remap(inline)).toEqual(inline);
    expect(content?.texts.map((t) => t.file)).toEqual(['cm.yaml[allow.yaml]', 'cm.yaml[inline.yaml]']);
  });
});
