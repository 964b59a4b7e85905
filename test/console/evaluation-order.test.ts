import { describe, expect, it } from 'vitest';
import { orderedEntries } from '../../src/console/evaluation-order.js';
import type { CompiledEntry } from '../../src/decision/table.js';

const entry = (policy: string, tags: Record<string, string>, action: CompiledEntry['action'] = 'Allow') =>
  ({ policy, fromIndex: 0, action, keys: Object.keys(tags), values: Object.values(tags) }) as CompiledEntry;

const reach = (entries: CompiledEntry[]) => orderedEntries(entries).map((e) => e.overriddenBy);

describe('unreachable entries', () => {
  it('a later entry asking for a subset of the tags always overrides; a later Mesh entry overrides all', () => {
    expect(
      reach([
        entry('a', { 'kuma.io/service': 'orders', version: 'v2' }),
        entry('b', { 'kuma.io/service': 'orders' }, 'Deny'),
        entry('c', {}),
      ]),
    ).toEqual([1, 2, null]);
  });

  it('a later entry asking for more, or another value, does not', () => {
    expect(
      reach([
        entry('a', { 'kuma.io/service': 'orders' }),
        entry('b', { 'kuma.io/service': 'orders', version: 'v2' }),
        entry('c', { 'kuma.io/service': 'web' }),
      ]),
    ).toEqual([null, null, null]);
  });

  it('reports the tags and the joined position of each entry', () => {
    expect(orderedEntries([entry('a', { zone: 'east' }, 'Deny')])).toEqual([
      {
        index: 0,
        policy: 'a',
        fromIndex: 0,
        action: 'Deny',
        tags: { zone: 'east' },
        unreachable: false,
        overriddenBy: null,
      },
    ]);
  });
});
