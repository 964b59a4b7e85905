/**
 * What the admin writes need of a store, whichever keeps the resources: the state directory
 * (store.ts, one file each) or the shared PostgreSQL store (src/store/). A write locks one
 * resource, reads it, puts or deletes it, and can undo that when the new set fails to serve.
 */
import type { PolicyIssue } from '../policy/types.js';

/** Where each stored type lives under a store's root. */
export const STORE_DIRS = {
  MeshTrafficPermission: 'meshtrafficpermissions',
  AccessRole: 'access-roles',
  AccessRoleBinding: 'access-role-bindings',
} as const;
export type StoredType = keyof typeof STORE_DIRS;

/** A document in the Universal form: `{type, name, mesh?, ...}` (`mesh` only for MeshTrafficPermission). */
export interface UniversalResource {
  readonly type: StoredType;
  readonly name: string;
  readonly mesh?: string;
  readonly [field: string]: unknown;
}

/** A committed change; `version` is the shared store's version of it (absent for the state directory). */
export interface PutResult {
  readonly created: boolean;
  readonly file: string;
  readonly version?: number;
}
export interface DeleteResult {
  readonly deleted: boolean;
  readonly file: string;
  readonly version?: number;
}

/** What may be done to one resource while its lock is held. */
export interface ResourceTransaction {
  /** The name the loader gives the resource's document (a path, or `postgres:…`). */
  readonly file: string;
  /** True when a loaded resource's source file is this resource's own (not an operator's file). */
  holds(sourceFile: string): boolean;
  read(): Promise<string | undefined>;
  put(resource: UniversalResource): Promise<PutResult>;
  delete(): Promise<DeleteResult>;
  /** Puts back the text `read()` gave (undefined: the resource did not exist). */
  undo(previous: string | undefined): Promise<void>;
}

export interface ResourceStore {
  /** Runs `fn` while no other write to the same resource runs (here, and for a shared store anywhere). */
  withResource<T>(
    type: string,
    mesh: string | undefined,
    name: string,
    fn: (tx: ResourceTransaction) => Promise<T>,
  ): Promise<T>;
}

/** A write refused before it was stored: the policy set would not load with it (answered 400). */
export class ChangeRejected extends Error {
  override readonly name = 'ChangeRejected';
  constructor(readonly issues: readonly PolicyIssue[]) {
    const n = issues.length;
    super(
      `the policies do not load with this change (${n} violation${n === 1 ? '' : 's'}); it was not stored`,
    );
  }
}

/** The store cannot be reached (answered 503); `reason` says why, without secrets. */
export class StoreUnavailable extends Error {
  override readonly name = 'StoreUnavailable';
  constructor(readonly reason: string) {
    super(`policy store unavailable: ${reason}`);
  }
}
