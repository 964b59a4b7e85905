/**
 * The search behind a multi-valued decision: pick one value per key, each from its domain, so that
 * the pick differs from every constraint (a set of key = value pairs) in at least one pair.
 *
 * Keys and values are numbered once, and the search runs on typed arrays: each node propagates
 * (a constraint whose pairs all hold but one forbids that last value; a key with a possible value
 * no live constraint uses takes it and so avoids all constraints on that key) and then branches on
 * the key most constraints name. Every pair read is charged to the budget.
 */
import type { WorkBudget } from './work-budget.js';

/** A later subset still to avoid: the pick must differ from it on at least one of these pairs. */
export interface Constraint {
  readonly keys: readonly string[];
  readonly values: readonly string[];
}

const UNASSIGNED = -1;
/** The key takes a value no live constraint names: every constraint on it is avoided. */
const ESCAPED = -2;

interface Problem {
  readonly keyCount: number;
  /** Start of each key's values in the flat value arrays. */
  readonly offset: Int32Array;
  /** Per key: numbered values (those constraints name). */
  readonly named: Int32Array;
  /** Constraint c is pairs[start[c] .. start[c + 1]) as (key, value) numbers. */
  readonly start: Int32Array;
  readonly pairs: Int32Array;
}

interface State {
  readonly alive: Uint8Array;
  readonly assigned: Int32Array;
  readonly forbidden: Uint8Array;
  /** Per key: values of its domain not forbidden. */
  readonly possible: Int32Array;
}

/**
 * Whether a pick avoiding every constraint exists. `domainSize(key)` counts the key's values; every
 * constraint value is one of them. False as well when the budget runs out (check `exhausted`).
 */
export function avoidable(
  constraints: readonly Constraint[],
  domainSize: (key: string) => number,
  budget: WorkBudget,
): boolean {
  if (constraints.length === 0) return true;
  const keyIds = new Map<string, number>();
  const valueIds: Map<string, number>[] = [];
  const sizes: number[] = [];
  const start = new Int32Array(constraints.length + 1);
  let pairCount = 0;
  for (const c of constraints) pairCount += c.keys.length;
  if (!budget.spend(pairCount)) return false;
  const raw = new Int32Array(pairCount * 2);
  let at = 0;
  constraints.forEach((c, i) => {
    start[i] = at / 2;
    for (let t = 0; t < c.keys.length; t++) {
      const key = c.keys[t] as string;
      let k = keyIds.get(key);
      if (k === undefined) {
        k = keyIds.size;
        keyIds.set(key, k);
        valueIds.push(new Map());
        sizes.push(domainSize(key));
      }
      const values = valueIds[k] as Map<string, number>;
      const value = c.values[t] as string;
      let v = values.get(value);
      if (v === undefined) values.set(value, (v = values.size));
      raw[at++] = k;
      raw[at++] = v;
    }
  });
  start[constraints.length] = pairCount;

  const keyCount = keyIds.size;
  const offset = new Int32Array(keyCount + 1);
  const named = new Int32Array(keyCount);
  for (let k = 0; k < keyCount; k++) {
    named[k] = (valueIds[k] as Map<string, number>).size;
    offset[k + 1] = (offset[k] as number) + (named[k] as number);
  }
  const problem: Problem = { keyCount, offset, named, start, pairs: raw };
  const state: State = {
    alive: new Uint8Array(constraints.length).fill(1),
    assigned: new Int32Array(keyCount).fill(UNASSIGNED),
    forbidden: new Uint8Array(offset[keyCount] as number),
    possible: Int32Array.from(sizes),
  };
  return search(problem, state, budget);
}

function search(p: Problem, s: State, budget: WorkBudget): boolean {
  const { alive, assigned, forbidden, possible } = s;
  const constraintCount = alive.length;
  const usedDistinct = new Int32Array(p.keyCount);
  const occurrences = new Int32Array(p.keyCount);
  const seen = new Uint8Array(forbidden.length);
  for (;;) {
    if (!budget.spend(p.keyCount + seen.length)) return false;
    usedDistinct.fill(0);
    occurrences.fill(0);
    seen.fill(0);
    let live = 0;
    let changed = false;
    for (let c = 0; c < constraintCount; c++) {
      if (alive[c] === 0) continue;
      const from = p.start[c] as number;
      const to = p.start[c + 1] as number;
      if (!budget.spend(to - from + 1)) return false;
      let free = 0;
      let lastKey = 0;
      let lastValue = 0;
      let dead = false;
      for (let i = from; i < to; i++) {
        const k = p.pairs[2 * i] as number;
        const v = p.pairs[2 * i + 1] as number;
        const a = assigned[k] as number;
        if (a === ESCAPED || (a >= 0 && a !== v) || forbidden[(p.offset[k] as number) + v] === 1) {
          dead = true;
          break;
        }
        if (a === v) continue;
        free++;
        lastKey = k;
        lastValue = v;
      }
      if (dead) {
        alive[c] = 0;
        continue;
      }
      if (free === 0) return false; // every pair holds: this subset cannot be avoided here
      if (free === 1) {
        // The last open pair must fail: its value is out.
        forbidden[(p.offset[lastKey] as number) + lastValue] = 1;
        possible[lastKey] = (possible[lastKey] as number) - 1;
        if (possible[lastKey] === 0) return false;
        alive[c] = 0;
        changed = true;
        continue;
      }
      live++;
      for (let i = from; i < to; i++) {
        const k = p.pairs[2 * i] as number;
        if (assigned[k] !== UNASSIGNED) continue;
        const slot = (p.offset[k] as number) + (p.pairs[2 * i + 1] as number);
        occurrences[k] = (occurrences[k] as number) + 1;
        if (seen[slot] === 0) {
          seen[slot] = 1;
          usedDistinct[k] = (usedDistinct[k] as number) + 1;
        }
      }
    }
    if (live === 0) return true;
    if (changed) continue;
    for (let k = 0; k < p.keyCount; k++) {
      if (
        assigned[k] === UNASSIGNED &&
        (occurrences[k] as number) > 0 &&
        (possible[k] as number) > (usedDistinct[k] as number)
      ) {
        assigned[k] = ESCAPED;
        changed = true;
      }
    }
    if (!changed) break;
  }

  // Every possible value of every open key is named by a live constraint: branch.
  let key = 0;
  for (let k = 1; k < p.keyCount; k++) if ((occurrences[k] as number) > (occurrences[key] as number)) key = k;
  for (let v = 0; v < (p.named[key] as number); v++) {
    if (forbidden[(p.offset[key] as number) + v] === 1) continue;
    if (!budget.spend(constraintCount + p.keyCount)) return false;
    const child: State = {
      alive: alive.slice(),
      assigned: assigned.slice(),
      forbidden: forbidden.slice(),
      possible: possible.slice(),
    };
    child.assigned[key] = v;
    if (search(p, child, budget)) return true;
    if (budget.exhausted) return false;
  }
  return false;
}
