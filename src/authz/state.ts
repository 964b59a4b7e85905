/**
 * The one mutable thing of a running service: the policy snapshot that answers requests, and
 * whether the service is draining. A reload builds a whole new snapshot off to the side and
 * publishes it with one assignment; a request reads `current` once and uses that snapshot only.
 */
import type { DecisionTable } from '../decision/table.js';
import type { PolicySet } from '../policy/types.js';

export interface Snapshot {
  readonly table: DecisionTable;
  /** Enforced plus shadow policies (SPEC §6.4); absent when the set has no shadow policy. */
  readonly shadowTable?: DecisionTable | undefined;
  readonly set: PolicySet;
  readonly generation: number;
  readonly loadedAt: Date;
  /** The policy files it was loaded from. */
  readonly files: readonly string[];
}

export type StateListener = (state: ServiceState) => void;

export class ServiceState {
  #current: Snapshot | undefined;
  #draining = false;
  readonly #listeners = new Set<StateListener>();

  constructor(initial?: Snapshot) {
    this.#current = initial;
  }

  /** The snapshot serving requests; undefined before the first successful load. */
  get current(): Snapshot | undefined {
    return this.#current;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** True while a policy set is loaded and the service is not shutting down. */
  get ready(): boolean {
    return this.#current !== undefined && !this.#draining;
  }

  /** Publishes a new snapshot; requests already running finish on the old one. */
  swap(next: Snapshot): void {
    this.#current = next;
    this.#notify();
  }

  /** Marks the service as shutting down (health turns NOT_SERVING); cannot be undone. */
  drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    this.#notify();
  }

  /** Called after every swap or drain; returns the unsubscribe function. */
  subscribe(listener: StateListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #notify(): void {
    for (const listener of this.#listeners) listener(this);
  }
}
