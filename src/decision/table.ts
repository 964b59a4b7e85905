/**
 * The compiled decision table: everything decide() reads, built once per policy generation by
 * policy/compile.ts. Lookups do no parsing; per-destination programs are memoized.
 */
import type { AtomIndex } from './atom-index.js';
import type { CompiledRule, RulesProgram } from './rules.js';
import { type CompiledEntry, type Decision, type Destination, type MtlsMode, SERVICE_TAG } from './types.js';

export type { CompiledEntry } from './types.js';

/** A policy ready for selection: its place in Kuma's order and its top-level selector. */
export interface CompiledPolicy {
  readonly name: string;
  /** Position in the mesh-wide Kuma order (least specific first). */
  readonly rank: number;
  readonly selector: Selector;
  readonly entries: readonly CompiledEntry[];
  /** Set for a policy written with `spec.rules` (its `entries` are then empty). */
  readonly rules?: readonly CompiledRule[];
}

/** The top-level targetRef as a predicate on inbound tags. */
export interface Selector {
  readonly service?: string;
  readonly keys: readonly string[];
  readonly values: readonly string[];
}

/** What one inbound evaluates: the selected policies' from lists joined in order. */
export interface InboundProgram {
  readonly policies: readonly string[];
  readonly entries: readonly CompiledEntry[];
  /** What multi-valued clients are evaluated on; built when first needed. */
  atoms?: AtomIndex;
  /** Whether single-valued clients take the last-covering-entry shortcut (decide.ts). */
  simple?: boolean;
  /** The answer each deciding entry gives here, made once: equal answers are the same object. */
  decisions?: Map<CompiledEntry, Decision>;
  noMatch?: Decision;
  /** Set when a rules policy selects the inbound: then only rules decide (Kuma 2.14). */
  readonly rules?: RulesProgram;
  /** Deny for a multi-valued client past the evaluation's work bound. */
  tooComplex?: Decision;
}

export interface MeshTable {
  readonly name: string;
  readonly mtls: MtlsMode;
  /** Policies whose selector is not a service: Mesh and MeshSubset. */
  readonly unscoped: readonly CompiledPolicy[];
  /** MeshService and MeshServiceSubset policies by service name. */
  readonly byService: ReadonlyMap<string, readonly CompiledPolicy[]>;
  readonly policyCount: number;
}

const EMPTY_PROGRAM: InboundProgram = Object.freeze({ policies: [], entries: [] });
const PROGRAM_MEMO_SIZE = 10_000;

export class DecisionTable {
  readonly generation: number;
  readonly #meshes: ReadonlyMap<string, MeshTable>;
  /** Insertion-ordered, evicting the oldest: cheap to create for every generation. */
  readonly #programs = new Map<string, InboundProgram>();

  constructor(generation: number, meshes: ReadonlyMap<string, MeshTable>) {
    this.generation = generation;
    this.#meshes = meshes;
  }

  /** True when a policy or a Mesh document names this mesh (bounds metric labels). */
  knowsMesh(mesh: string): boolean {
    return this.#meshes.has(mesh);
  }

  meshNames(): string[] {
    return [...this.#meshes.keys()];
  }

  policyCount(mesh: string): number {
    return this.#meshes.get(mesh)?.policyCount ?? 0;
  }

  /** A mesh without a Mesh document is STRICT. */
  mtlsOf(mesh: string): MtlsMode {
    return this.#meshes.get(mesh)?.mtls ?? 'strict';
  }

  /** The policies selecting this inbound, ordered, with their from lists joined. */
  program(destination: Destination): InboundProgram {
    const cached = this.#programs.get(destination.key);
    if (cached !== undefined) return cached;
    const program = this.#select(destination);
    if (this.#programs.size >= PROGRAM_MEMO_SIZE) {
      const oldest = this.#programs.keys().next().value;
      if (oldest !== undefined) this.#programs.delete(oldest);
    }
    this.#programs.set(destination.key, program);
    return program;
  }

  #select(destination: Destination): InboundProgram {
    const mesh = this.#meshes.get(destination.mesh);
    if (mesh === undefined) return EMPTY_PROGRAM;
    const tags = destination.tags;
    const selected: CompiledPolicy[] = [];
    for (const policy of mesh.unscoped) if (matchesTags(policy.selector, tags)) selected.push(policy);
    const service = tags.get(SERVICE_TAG);
    const scoped = service === undefined ? undefined : mesh.byService.get(service);
    if (scoped !== undefined)
      for (const policy of scoped) if (matchesTags(policy.selector, tags)) selected.push(policy);
    if (selected.length === 0) return EMPTY_PROGRAM;
    selected.sort((a, b) => a.rank - b.rank);
    if (selected.some((p) => p.rules !== undefined)) return rulesProgram(selected);
    const entries: CompiledEntry[] = [];
    for (const policy of selected) for (const entry of policy.entries) entries.push(entry);
    return { policies: selected.map((p) => p.name), entries };
  }
}

/** An inbound selected by a rules policy: its from policies are ignored, as Kuma 2.14 does. */
function rulesProgram(selected: readonly CompiledPolicy[]): InboundProgram {
  const withRules = selected.filter((p) => p.rules !== undefined);
  const policies = withRules.map((p) => p.name);
  const rules = withRules.flatMap((p) => p.rules ?? []);
  const ignoredFromPolicies = selected.filter((p) => p.rules === undefined).map((p) => p.name);
  return { policies, entries: [], rules: { rules, policies, ignoredFromPolicies } };
}

function matchesTags(selector: Selector, tags: ReadonlyMap<string, string>): boolean {
  for (let i = 0; i < selector.keys.length; i++) {
    if (tags.get(selector.keys[i] as string) !== selector.values[i]) return false;
  }
  return true;
}
