/**
 * What the multi-valued evaluation reads of one inbound's joined from list, built once per program:
 * the distinct subsets of its entries, Kuma's connected components of intersecting subsets (with
 * every value each key takes in a component), and an index from (key, value) to the subsets that
 * name it, so a client finds the subsets it covers by reading only its own tags.
 */
import type { CompiledEntry } from './types.js';

/** One distinct set of (key, value) pairs among the entries. */
export interface SubsetNode {
  /** The last entry with exactly these pairs: any combination containing one contains them all. */
  readonly entry: CompiledEntry;
  /** That entry's place in the joined from list. */
  readonly position: number;
  readonly component: number;
  /**
   * The components whose atoms can contain it: those naming every one of its pairs. Kuma gives an
   * atom the action of the last entry of the whole list it contains, so a subset can decide atoms
   * of components it is not a member of (through one that names two values of a key, or a ring of
   * subsets each conflicting with it). Its own component comes first.
   */
  readonly expressibleIn: readonly number[];
  /** Distinct pairs, as parallel arrays. */
  readonly keys: readonly string[];
  readonly values: readonly string[];
  /** Its distinct keys as one text: subsets with equal key sets share it. */
  readonly keySet: string;
}

export interface Component {
  /** Every value each key takes among the component's subsets (what Kuma's atoms range over). */
  readonly values: ReadonlyMap<string, ReadonlySet<string>>;
}

export interface AtomIndex {
  /**
   * True when every subset can decide atoms of its own component only. Then a client with one value
   * per key is decided by the last entry it covers (its covered subsets all intersect, so they share
   * one component).
   */
  readonly simple: boolean;
  /** The subset of kind Mesh (no pairs), which every client covers; it joins everything into one component. */
  readonly unconditional: SubsetNode | undefined;
  /** key → value → the subsets naming that pair. Subsets naming two values of one key cover no client: left out. */
  readonly byTag: ReadonlyMap<string, ReadonlyMap<string, readonly SubsetNode[]>>;
  readonly components: readonly Component[];
}

interface Draft {
  entry: CompiledEntry;
  position: number;
  readonly keys: string[];
  readonly values: string[];
  /** Each pair as one text, parallel to keys. */
  readonly pairTexts: string[];
  /** Some key holds two values: a MeshServiceSubset whose kuma.io/service tag differs from its name. */
  readonly contradictory: boolean;
  /** Sorted distinct keys, the grouping signature. */
  readonly keySignature: string;
}

export function buildAtomIndex(entries: readonly CompiledEntry[]): AtomIndex {
  const drafts = distinctSubsets(entries);
  const componentOf = connectedComponents(drafts);
  const components: { values: Map<string, Set<string>> }[] = [];
  /** Pair text → the components whose subsets name it. */
  const namedIn = new Map<string, Set<number>>();
  drafts.forEach((draft, i) => {
    const component = componentOf[i] as number;
    const values = (components[component] ??= { values: new Map() }).values;
    for (let t = 0; t < draft.keys.length; t++) {
      const key = draft.keys[t] as string;
      let set = values.get(key);
      if (set === undefined) values.set(key, (set = new Set()));
      set.add(draft.values[t] as string);
      const pair = draft.pairTexts[t] as string;
      let where = namedIn.get(pair);
      if (where === undefined) namedIn.set(pair, (where = new Set()));
      where.add(component);
    }
  });

  const byTag = new Map<string, Map<string, SubsetNode[]>>();
  let unconditional: SubsetNode | undefined;
  let simple = true;
  drafts.forEach((draft, i) => {
    const component = componentOf[i] as number;
    const node: SubsetNode = {
      entry: draft.entry,
      position: draft.position,
      component,
      expressibleIn: draft.contradictory ? [component] : expressibleIn(draft, component, namedIn),
      keys: draft.keys,
      values: draft.values,
      keySet: draft.keySignature,
    };
    if (node.expressibleIn.length > 1) simple = false;
    if (draft.keys.length === 0) unconditional = node;
    if (draft.contradictory) return;
    for (let t = 0; t < draft.keys.length; t++) {
      const key = draft.keys[t] as string;
      let byValue = byTag.get(key);
      if (byValue === undefined) byTag.set(key, (byValue = new Map()));
      const value = draft.values[t] as string;
      const list = byValue.get(value);
      if (list === undefined) byValue.set(value, [node]);
      else list.push(node);
    }
  });
  return { simple: simple || unconditional !== undefined, unconditional, byTag, components };
}

/** Its own component, then every other component naming all of its pairs. */
function expressibleIn(
  draft: Draft,
  own: number,
  namedIn: ReadonlyMap<string, ReadonlySet<number>>,
): number[] {
  const out = [own];
  if (draft.keys.length === 0) return out;
  let narrowest: ReadonlySet<number> | undefined;
  for (const pair of draft.pairTexts) {
    const where = namedIn.get(pair);
    if (where !== undefined && (narrowest === undefined || where.size < narrowest.size)) narrowest = where;
  }
  for (const component of narrowest ?? []) {
    if (component !== own && draft.pairTexts.every((pair) => namedIn.get(pair)?.has(component) === true)) {
      out.push(component);
    }
  }
  return out;
}

/** Entries with the same pairs are one subset; the last of them is the one that can decide. */
function distinctSubsets(entries: readonly CompiledEntry[]): Draft[] {
  const bySignature = new Map<string, Draft>();
  entries.forEach((entry, position) => {
    // Distinct pairs in a canonical order; a from entry has a handful, so arrays beat maps here.
    const order: number[] = [];
    const texts: string[] = [];
    for (let t = 0; t < entry.keys.length; t++) {
      const text = pairText(entry.keys[t] as string, entry.values[t] as string);
      if (texts.includes(text)) continue;
      texts.push(text);
      order.push(t);
    }
    const sorted = order.map((t, i) => ({ t, text: texts[i] as string }));
    if (sorted.length > 1) sorted.sort((a, b) => (a.text < b.text ? -1 : 1));
    const pairTexts = sorted.map((p) => p.text);
    const signature = pairTexts.join(',');
    const known = bySignature.get(signature);
    if (known !== undefined) {
      known.entry = entry;
      known.position = position;
      return;
    }
    const keys = sorted.map((p) => entry.keys[p.t] as string);
    const distinctKeys = keys.length > 1 ? [...new Set(keys)] : keys;
    bySignature.set(signature, {
      entry,
      position,
      keys,
      values: sorted.map((p) => entry.values[p.t] as string),
      pairTexts,
      contradictory: distinctKeys.length < keys.length,
      keySignature: distinctKeys.map((k) => `${k.length}:${k}`).join(''),
    });
  });
  return [...bySignature.values()];
}

/** One pair as text, unambiguous whatever the key holds (its length comes first). */
function pairText(key: string, value: string): string {
  return `${key.length}:${key}=${value}`;
}

/** Kuma's (fixed, 2.7.11+) Subset.Intersect on positive subsets: no key with two different values. */
function intersects(a: Draft, b: Draft): boolean {
  for (let i = 0; i < a.keys.length; i++) {
    for (let j = 0; j < b.keys.length; j++) {
      if (a.keys[i] === b.keys[j] && a.values[i] !== b.values[j]) return false;
    }
  }
  return true;
}

/**
 * Component number of each subset, numbered in order of first subset. Pairwise checks would be
 * quadratic in the subsets; instead subsets are grouped by their key set: two different subsets
 * with the same keys never intersect, and across two groups the subsets that intersect are exactly
 * those equal on the shared keys (all of them when no key is shared). Contradictory subsets are few
 * and checked one by one.
 */
function connectedComponents(drafts: readonly Draft[]): number[] {
  const parent = drafts.map((_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) {
      const up = parent[parent[i] as number] as number;
      parent[i] = up;
      i = up;
    }
    return i;
  };
  const union = (a: number, b: number): void => {
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
  };

  if (drafts.some((d) => d.keys.length === 0)) {
    // The empty subset intersects every subset.
    for (let i = 1; i < drafts.length; i++) union(0, i);
  } else {
    const groups = new Map<string, { keys: readonly string[]; members: number[] }>();
    const contradictory: number[] = [];
    drafts.forEach((d, i) => {
      if (d.contradictory) {
        contradictory.push(i);
        return;
      }
      const group = groups.get(d.keySignature);
      if (group === undefined) groups.set(d.keySignature, { keys: d.keys, members: [i] });
      else group.members.push(i);
    });
    const list = [...groups.values()];
    for (let g = 0; g < list.length; g++) {
      for (let h = g + 1; h < list.length; h++) joinGroups(drafts, list[g]!, list[h]!, union);
    }
    for (const c of contradictory) {
      for (let i = 0; i < drafts.length; i++) {
        if (i !== c && intersects(drafts[c] as Draft, drafts[i] as Draft)) union(c, i);
      }
    }
  }

  const numbers = new Map<number, number>();
  return drafts.map((_, i) => {
    const root = find(i);
    let n = numbers.get(root);
    if (n === undefined) numbers.set(root, (n = numbers.size));
    return n;
  });
}

/** Joins the members of two key-set groups that agree on their shared keys (all when none are shared). */
function joinGroups(
  drafts: readonly Draft[],
  a: { keys: readonly string[]; members: readonly number[] },
  b: { keys: readonly string[]; members: readonly number[] },
  union: (x: number, y: number) => void,
): void {
  const shared = a.keys.filter((k) => b.keys.includes(k));
  const projection = (i: number): string => {
    const d = drafts[i] as Draft;
    return JSON.stringify(shared.map((k) => d.values[d.keys.indexOf(k)]));
  };
  const ofA = new Map<string, number[]>();
  for (const i of a.members) {
    const p = projection(i);
    const list = ofA.get(p);
    if (list === undefined) ofA.set(p, [i]);
    else list.push(i);
  }
  for (const i of b.members) {
    const p = projection(i);
    const list = ofA.get(p);
    if (list === undefined) continue;
    for (const j of list) union(i, j);
    // Every member of `a` with this projection is now joined; later members of `b` need only one.
    if (list.length > 1) ofA.set(p, [list[0] as number]);
  }
}
