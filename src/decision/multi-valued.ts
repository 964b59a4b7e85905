/**
 * Kuma's answer for a client whose certificate carries several values for one tag key.
 *
 * Kuma (2.6–2.8, classic `from`) turns the joined from list into RBAC principals like this: entries
 * whose subsets intersect form connected components; per component it enumerates every "atom" that
 * takes, for each tag key of the component, either one positive value or the negation of all of
 * them; each atom gets the action of the last entry contained in it; Envoy allows when any
 * Allow/AllowWithShadowDeny atom's principal matches the SANs.
 *
 * A client satisfies an atom exactly when, for each key of the component, the atom names one of
 * the client's values for it (if the client has any of the component's values for that key) or
 * negates them all (if it has none). So we enumerate only the atoms this client satisfies.
 */
import type { CompiledEntry, InboundProgram } from './table.js';
import type { ClientIdentity } from './types.js';

/** More atoms than this for one client is refused (fail closed) rather than enumerated. */
export const MAX_ATOMS = 65_536;

export interface AtomVerdict {
  /** The entry behind the first satisfied atom whose action is Allow. */
  readonly allow?: CompiledEntry;
  /** … AllowWithShadowDeny (used only when no Allow atom matched). */
  readonly shadow?: CompiledEntry;
  /** … Deny. */
  readonly deny?: CompiledEntry;
  /** The client satisfies more atoms than MAX_ATOMS. */
  readonly tooAmbiguous?: boolean;
}

export function evaluateAtoms(program: InboundProgram, identity: ClientIdentity): AtomVerdict {
  let allow: CompiledEntry | undefined;
  let shadow: CompiledEntry | undefined;
  let deny: CompiledEntry | undefined;
  program.components ??= components(program.entries);
  for (const component of program.components) {
    const result = evaluateComponent(component, identity, (entry) => {
      if (entry.action === 'Allow') allow ??= entry;
      else if (entry.action === 'AllowWithShadowDeny') shadow ??= entry;
      else deny ??= entry;
      return allow !== undefined;
    });
    if (result === 'too-ambiguous') return { tooAmbiguous: true };
    if (allow !== undefined) break;
  }
  return { allow, shadow, deny };
}

/**
 * Enumerates the atoms of one component that the client satisfies and reports the deciding entry
 * of each (skipping atoms no entry is contained in). `visit` returns true to stop early.
 */
function evaluateComponent(
  entries: readonly CompiledEntry[],
  identity: ClientIdentity,
  visit: (entry: CompiledEntry) => boolean,
): 'done' | 'too-ambiguous' {
  const valuesByKey = new Map<string, Set<string>>();
  for (const entry of entries) {
    for (let t = 0; t < entry.keys.length; t++) {
      const key = entry.keys[t] as string;
      const values = valuesByKey.get(key);
      if (values === undefined) valuesByKey.set(key, new Set([entry.values[t] as string]));
      else values.add(entry.values[t] as string);
    }
  }
  // Keys where the atom is positive: the client's values that the component mentions.
  const keys: string[] = [];
  const options: string[][] = [];
  let atoms = 1;
  for (const [key, values] of valuesByKey) {
    const chosen = (identity.tags.get(key) ?? []).filter((v) => values.has(v));
    if (chosen.length === 0) continue; // negated key: the atom names none of the client's values
    keys.push(key);
    options.push(chosen);
    atoms *= chosen.length;
    if (atoms > MAX_ATOMS) return 'too-ambiguous';
  }

  const assignment = new Map<string, string>();
  const counter = new Array<number>(keys.length).fill(0);
  for (let n = 0; n < atoms; n++) {
    for (let k = 0; k < keys.length; k++)
      assignment.set(keys[k] as string, (options[k] as string[])[counter[k] as number] as string);
    const decider = lastContained(entries, assignment);
    if (decider !== undefined && visit(decider)) return 'done';
    for (let k = 0; k < keys.length; k++) {
      counter[k] = (counter[k] as number) + 1;
      if ((counter[k] as number) < (options[k] as string[]).length) break;
      counter[k] = 0;
    }
  }
  return 'done';
}

/** The last entry all of whose tags the atom names positively. */
function lastContained(
  entries: readonly CompiledEntry[],
  atom: ReadonlyMap<string, string>,
): CompiledEntry | undefined {
  outer: for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i] as CompiledEntry;
    for (let t = 0; t < entry.keys.length; t++) {
      if (atom.get(entry.keys[t] as string) !== entry.values[t]) continue outer;
    }
    return entry;
  }
  return undefined;
}

/** Kuma's subset intersection for all-positive subsets: no key with two different values. */
export function intersects(a: CompiledEntry, b: CompiledEntry): boolean {
  for (let i = 0; i < a.keys.length; i++) {
    for (let j = 0; j < b.keys.length; j++) {
      if (a.keys[i] === b.keys[j] && a.values[i] !== b.values[j]) return false;
    }
  }
  return true;
}

/** Connected components of the "intersects" graph, each in from-list order, ordered by first entry. */
export function components(entries: readonly CompiledEntry[]): CompiledEntry[][] {
  // An empty subset (kind Mesh) intersects everything, so it joins every entry into one component.
  if (entries.some((e) => e.keys.length === 0)) return [[...entries]];
  const parent = entries.map((_, i) => i);
  const find = (i: number): number => {
    let root = i;
    while (parent[root] !== root) root = parent[root] as number;
    while (parent[i] !== root) {
      const next = parent[i] as number;
      parent[i] = root;
      i = next;
    }
    return root;
  };
  for (let i = 0; i < entries.length; i++) {
    for (let j = i + 1; j < entries.length; j++) {
      if (find(i) !== find(j) && intersects(entries[i] as CompiledEntry, entries[j] as CompiledEntry)) {
        parent[find(i)] = find(j);
      }
    }
  }
  const groups = new Map<number, CompiledEntry[]>();
  entries.forEach((entry, i) => {
    const root = find(i);
    const group = groups.get(root);
    if (group === undefined) groups.set(root, [entry]);
    else group.push(entry);
  });
  return [...groups.values()];
}
