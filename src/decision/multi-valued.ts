/**
 * Kuma's answer by its atoms: for a client whose certificate carries several values for a tag key,
 * and for any client of a program where an entry decides atoms outside its own component.
 *
 * Kuma (classic `from`, 2.7.11–2.7.20) turns the joined from list into RBAC principals: entries
 * whose subsets intersect form connected components; per component it enumerates every "atom" that
 * takes, for each key of the component, one of its values or the negation of them all; each atom
 * gets the action of the last entry of the whole list contained in it. Envoy allows when an Allow
 * or AllowWithShadowDeny atom matches the SANs, and its shadow rules (the AllowWithShadowDeny atoms
 * alone) report a shadow deny when one of those matches, whatever else matched.
 *
 * The atoms a client matches are exactly the choices, for each key of a component, of one of the
 * client's values the component names (the negation when it names none). Rather than enumerate
 * them (a product over keys), this asks per candidate entry whether some such choice has it as the
 * last contained entry: choose its values, then every later covered entry the component's atoms
 * can contain must be avoided by choosing differently on one of its other keys. That is a small
 * search with strong shortcuts (a value no later entry uses escapes them all), bounded by a work
 * budget; past the budget the answer is `too-complex`, never a guess.
 */
import type { AtomIndex, Component, SubsetNode } from './atom-index.js';
import { avoidable, type Constraint } from './avoid-search.js';
import type { CompiledEntry } from './table.js';
import type { ClientIdentity } from './types.js';
import { COST, WorkBudget } from './work-budget.js';

export { MULTI_VALUED_WORK_LIMIT, WorkBudget } from './work-budget.js';

export type MultiValuedAnswer =
  /** The entry whose action applies. */
  | { readonly kind: 'entry'; readonly entry: CompiledEntry }
  | { readonly kind: 'no-match' }
  | { readonly kind: 'too-complex' };

const NO_MATCH: MultiValuedAnswer = Object.freeze({ kind: 'no-match' });
const TOO_COMPLEX: MultiValuedAnswer = Object.freeze({ kind: 'too-complex' });

/**
 * The deciding entry: the last reachable AllowWithShadowDeny entry if any (allowed, shadow
 * denied), else the last reachable Allow entry, else the last entry covering the client (a Deny).
 */
export function evaluateMultiValued(
  index: AtomIndex,
  identity: ClientIdentity,
  budget = new WorkBudget(),
): MultiValuedAnswer {
  const covered = coveredByComponent(index, identity, budget);
  if (budget.exhausted) return TOO_COMPLEX;
  if (covered.size === 0) return NO_MATCH;
  const views = new Map<number, ComponentView>();
  for (const [component, nodes] of covered) {
    views.set(component, new ComponentView(index.components[component] as Component, nodes, identity));
  }
  for (const action of ['AllowWithShadowDeny', 'Allow'] as const) {
    const found = lastReachable(views, action, budget);
    if (budget.exhausted) return TOO_COMPLEX;
    if (found !== undefined) return { kind: 'entry', entry: found.entry };
  }
  let last: SubsetNode | undefined;
  for (const view of views.values()) {
    const tail = view.nodes[view.nodes.length - 1] as SubsetNode;
    if (last === undefined || tail.position > last.position) last = tail;
  }
  return last === undefined ? NO_MATCH : { kind: 'entry', entry: last.entry };
}

/**
 * The subsets all of whose pairs the client carries, listed under every component whose atoms can
 * contain them, in from-list order.
 */
function coveredByComponent(
  index: AtomIndex,
  identity: ClientIdentity,
  budget: WorkBudget,
): Map<number, SubsetNode[]> {
  const covered = new Map<number, SubsetNode[]>();
  const add = (node: SubsetNode): void => {
    budget.spend(COST.index * node.expressibleIn.length);
    for (const component of node.expressibleIn) {
      const list = covered.get(component);
      if (list === undefined) covered.set(component, [node]);
      else list.push(node);
    }
  };
  if (index.unconditional !== undefined) add(index.unconditional);
  const hits = new Map<SubsetNode, number>();
  for (const [key, values] of identity.tags) {
    const byValue = index.byTag.get(key);
    if (byValue === undefined) continue;
    for (const value of values) {
      const nodes = byValue.get(value);
      if (nodes === undefined) continue;
      if (!budget.spend(COST.index * nodes.length)) return covered;
      for (const node of nodes) {
        const n = (hits.get(node) ?? 0) + 1;
        hits.set(node, n);
        if (n === node.keys.length) add(node);
      }
    }
  }
  for (const list of covered.values()) list.sort((a, b) => a.position - b.position);
  return covered;
}

/** Across components, the reachable covered entry with this action that comes last. */
function lastReachable(
  views: ReadonlyMap<number, ComponentView>,
  action: CompiledEntry['action'],
  budget: WorkBudget,
): SubsetNode | undefined {
  const candidates: { view: ComponentView; node: SubsetNode }[] = [];
  for (const view of views.values()) {
    const after = view.lastAlwaysContained(budget);
    for (const node of view.nodes) {
      if (node.entry.action === action && node.position >= after) candidates.push({ view, node });
    }
  }
  candidates.sort((a, b) => b.node.position - a.node.position);
  for (const { view, node } of candidates) {
    if (view.reachable(node, budget)) return node;
    if (budget.exhausted) return undefined;
  }
  return undefined;
}

/** Covered subsets of one component that share a key set, in from-list order. */
interface KeySetGroup {
  readonly keys: readonly string[];
  readonly members: SubsetNode[];
  /** For a key set of candidates: their values on the shared keys → members with those values. */
  readonly projections: Map<string, { shared: readonly string[]; byValues: Map<string, SubsetNode[]> }>;
}

/** One component as one client sees it. */
class ComponentView {
  readonly nodes: readonly SubsetNode[];
  readonly #component: Component;
  readonly #identity: ClientIdentity;
  readonly #domains = new Map<string, readonly string[]>();
  readonly #groups = new Map<string, KeySetGroup>();
  #lastAlways: number | undefined;

  constructor(component: Component, nodes: readonly SubsetNode[], identity: ClientIdentity) {
    this.#component = component;
    this.nodes = nodes;
    this.#identity = identity;
    for (const node of nodes) {
      const group = this.#groups.get(node.keySet);
      if (group === undefined) {
        this.#groups.set(node.keySet, { keys: node.keys, members: [node], projections: new Map() });
      } else group.members.push(node);
    }
  }

  /** The client's values for `key` that the component names: the positive choices of its atoms. */
  domain(key: string, budget: WorkBudget): readonly string[] {
    let domain = this.#domains.get(key);
    if (domain === undefined) {
      const named = this.#component.values.get(key);
      const own = this.#identity.tags.get(key) ?? [];
      budget.spend(COST.index * own.length);
      domain = named === undefined ? [] : own.filter((v) => named.has(v));
      this.#domains.set(key, domain);
    }
    return domain;
  }

  /**
   * Position of the last covered subset whose keys each leave the client one choice: it is in
   * every atom the client matches, so nothing before it can decide.
   */
  lastAlwaysContained(budget: WorkBudget): number {
    if (this.#lastAlways === undefined) {
      this.#lastAlways = -1;
      for (let i = this.nodes.length - 1; i >= 0; i--) {
        const node = this.nodes[i] as SubsetNode;
        if (node.keys.every((k) => this.domain(k, budget).length === 1)) {
          this.#lastAlways = node.position;
          break;
        }
      }
    }
    return this.#lastAlways;
  }

  /** Whether some atom the client matches has `chosen` as its last contained subset. */
  reachable(chosen: SubsetNode, budget: WorkBudget): boolean {
    if (!budget.spend(COST.reachable)) return false;
    const constraints: Constraint[] = [];
    for (const group of this.#groups.values()) {
      const candidates = this.#compatible(group, chosen, budget);
      if (!budget.spend(COST.group)) return false;
      // Only the subsets after `chosen` can override it; lists are in from-list order.
      for (let i = candidates.length - 1; i >= 0; i--) {
        const later = candidates[i] as SubsetNode;
        if (later.position <= chosen.position) break;
        if (!budget.spend(COST.pair * later.keys.length)) return false;
        const free = { keys: [] as string[], values: [] as string[] };
        let avoided = false;
        for (let t = 0; t < later.keys.length; t++) {
          const key = later.keys[t] as string;
          const value = later.values[t] as string;
          const own = chosen.keys.indexOf(key);
          const domain = this.domain(key, budget);
          const forced = own >= 0 ? chosen.values[own] : domain.length === 1 ? domain[0] : undefined;
          if (forced === undefined) {
            free.keys.push(key);
            free.values.push(value);
          } else if (forced !== value) {
            avoided = true;
            break;
          }
        }
        if (avoided) continue;
        // Contained whenever `chosen` is: it comes later and takes the decision.
        if (free.keys.length === 0) return false;
        constraints.push(free);
      }
    }
    return avoidable(constraints, (key) => this.domain(key, budget).length, budget);
  }

  /** The group's members that agree with `chosen` on every key they share (all when none is shared). */
  #compatible(group: KeySetGroup, chosen: SubsetNode, budget: WorkBudget): readonly SubsetNode[] {
    let projection = group.projections.get(chosen.keySet);
    if (projection === undefined) {
      const shared = group.keys.filter((k) => chosen.keys.includes(k));
      const byValues = new Map<string, SubsetNode[]>();
      if (shared.length > 0) {
        budget.spend(COST.index * group.members.length);
        for (const member of group.members) {
          const text = valuesOn(member, shared);
          const list = byValues.get(text);
          if (list === undefined) byValues.set(text, [member]);
          else list.push(member);
        }
      }
      projection = { shared, byValues };
      group.projections.set(chosen.keySet, projection);
    }
    if (projection.shared.length === 0) return group.members;
    return projection.byValues.get(valuesOn(chosen, projection.shared)) ?? [];
  }
}

function valuesOn(node: SubsetNode, keys: readonly string[]): string {
  if (keys.length === 1) return node.values[node.keys.indexOf(keys[0] as string)] as string;
  return JSON.stringify(keys.map((k) => node.values[node.keys.indexOf(k)]));
}
