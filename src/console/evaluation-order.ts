/**
 * The policies of one inbound in evaluation order (SPEC §2.3 steps 3–5) with their joined from
 * list, for the console's Policies and Explain pages.
 *
 * An entry is **unreachable** when a later entry of the joined list asks for a subset of its tags
 * (a Mesh entry asks for none): every client with one value per tag key that this entry covers is
 * then covered by the later one too, and the last covering entry wins, so this entry never decides
 * for such a client. (A client with several values for a key can still be decided by it.)
 */
import type { CompiledEntry, DecisionTable } from '../decision/table.js';
import type { Destination } from '../decision/types.js';
import { type Action, ORIGIN_LABEL, type PolicySet, type TargetRefKind } from '../policy/types.js';
import { shadowPoliciesOf } from './shadow-record.js';

export interface OrderedPolicy {
  readonly name: string;
  readonly file: string;
  readonly line: number;
  readonly col: number;
  /** The `kuma.io/origin` label, null when unset. */
  readonly origin: string | null;
  readonly kind: TargetRefKind | null;
}

export interface OrderedEntry {
  /** Position in the joined list, from 0. */
  readonly index: number;
  readonly policy: string;
  readonly fromIndex: number;
  readonly action: Action;
  /** The tags the entry asks of the client; empty for a Mesh entry (every client). */
  readonly tags: Readonly<Record<string, string>>;
  readonly unreachable: boolean;
  /** The index of the first later entry that always overrides it; null when reachable. */
  readonly overriddenBy: number | null;
}

export interface EvaluationOrder {
  readonly mesh: string;
  readonly destinationTags: Readonly<Record<string, string>>;
  readonly mtls: string;
  /** Enforced policies, least specific first (the last covering entry wins). */
  readonly policies: readonly OrderedPolicy[];
  readonly entries: readonly OrderedEntry[];
  /** Shadow policies (`kuma.io/effect: shadow`) that would also select this inbound. */
  readonly shadowPolicies: readonly OrderedPolicy[];
}

export function evaluationOrder(
  set: PolicySet,
  table: DecisionTable,
  shadowTable: DecisionTable | undefined,
  destination: Destination,
): EvaluationOrder {
  const byName = new Map(set.policies.filter((p) => p.mesh === destination.mesh).map((p) => [p.name, p]));
  const describe = (name: string): OrderedPolicy => {
    const policy = byName.get(name);
    return {
      name,
      file: policy?.source.file ?? '',
      line: policy?.source.line ?? 0,
      col: policy?.source.col ?? 0,
      origin: policy?.labels[ORIGIN_LABEL] ?? null,
      kind: policy?.targetRef.kind ?? null,
    };
  };
  const program = table.program(destination);
  const shadowNames = shadowPoliciesOf(set).get(destination.mesh);
  const shadowSelected =
    shadowTable === undefined || shadowNames === undefined
      ? []
      : shadowTable.program(destination).policies.filter((name) => shadowNames.has(name));
  return {
    mesh: destination.mesh,
    destinationTags: Object.fromEntries(destination.tags),
    mtls: table.mtlsOf(destination.mesh),
    policies: program.policies.map(describe),
    entries: orderedEntries(program.entries),
    shadowPolicies: shadowSelected.map(describe),
  };
}

export function orderedEntries(entries: readonly CompiledEntry[]): OrderedEntry[] {
  return entries.map((entry, index) => {
    let overriddenBy: number | null = null;
    for (let later = index + 1; later < entries.length; later++) {
      if (asksSubsetOf(entries[later] as CompiledEntry, entry)) {
        overriddenBy = later;
        break;
      }
    }
    const tags: Record<string, string> = {};
    entry.keys.forEach((key, i) => {
      tags[key] = entry.values[i] ?? '';
    });
    return {
      index,
      policy: entry.policy,
      fromIndex: entry.fromIndex,
      action: entry.action,
      tags,
      unreachable: overriddenBy !== null,
      overriddenBy,
    };
  });
}

/** True when every tag `later` asks for is also asked, with the same value, by `earlier`. */
function asksSubsetOf(later: CompiledEntry, earlier: CompiledEntry): boolean {
  for (let i = 0; i < later.keys.length; i++) {
    const at = earlier.keys.indexOf(later.keys[i] as string);
    if (at < 0 || earlier.values[at] !== later.values[i]) return false;
  }
  return true;
}
