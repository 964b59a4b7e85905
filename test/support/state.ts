/** Serving snapshots over a typed PolicySet, as a load publishes them, and a state serving one. */
import { ServiceState, type Snapshot } from '../../src/authz/state.js';
import { compileTables } from '../../src/policy/compile.js';
import type { PolicySet } from '../../src/policy/types.js';

export function snapshotOf(set: PolicySet, generation = 1, files: readonly string[] = []): Snapshot {
  return { ...compileTables(set, generation), set, generation, loadedAt: new Date(), files };
}

/** A state serving `set` as generation 1. */
export const servingState = (set: PolicySet, files: readonly string[] = []): ServiceState =>
  new ServiceState(snapshotOf(set, 1, files));
