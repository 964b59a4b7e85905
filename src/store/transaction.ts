/**
 * One admin write against the shared store, as one database transaction:
 *
 *   BEGIN → bump `store_version` (its row lock makes every writer, on every replica, wait its
 *   turn: the version is the commit order) → read the changes since this replica's copy (so the
 *   check below sees what other replicas committed) → lock and read the row → check that the set
 *   loads with the change (ROLLBACK and 400 when not: no replica ever reads a set that fails) →
 *   upsert the row (a deletion keeps a tombstone) → NOTIFY (delivered at COMMIT) → COMMIT.
 *
 * A second put or delete (an undo) runs a transaction of its own.
 */
import type { Pool, PoolClient } from 'pg';
import {
  ChangeRejected,
  type DeleteResult,
  type PutResult,
  type ResourceTransaction,
} from '../admin/resource-store.js';
import { serializeResource, type UniversalResource } from '../admin/store.js';
import type { LoadResult, PolicyText } from '../policy/load.js';
import type { Mirror, StoreChange } from './mirror.js';
import { CHANGES_CHANNEL } from './schema.js';
import { type ResourceKey, readChanges } from './rows.js';

/** What a transaction needs of the store that runs it. */
export interface TransactionContext {
  readonly pool: Pool;
  readonly mirror: Mirror;
  /** Throws StoreUnavailable while the store is known to be down (writes fail at once). */
  ensureUp(): void;
  /** Turns a database error into StoreUnavailable when it means the database is out of reach. */
  failure(error: unknown): Error;
  validate(texts: readonly PolicyText[]): Promise<LoadResult>;
  observeWrite(seconds: number): void;
}

export class StoreTransaction implements ResourceTransaction {
  readonly file: string;
  readonly #ctx: TransactionContext;
  readonly #key: ResourceKey;
  #client: PoolClient | undefined;
  #version = 0;
  #previous: string | undefined;
  #startedAt = 0;

  constructor(ctx: TransactionContext, key: ResourceKey, file: string) {
    this.#ctx = ctx;
    this.#key = key;
    this.file = file;
  }

  holds(sourceFile: string): boolean {
    return sourceFile === this.file;
  }

  async read(): Promise<string | undefined> {
    await this.#begin();
    return this.#previous;
  }

  async put(resource: UniversalResource): Promise<PutResult> {
    const { type, name } = this.#key;
    if (
      resource.type !== type ||
      resource.name !== name ||
      (resource.mesh ?? this.#key.mesh) !== this.#key.mesh
    )
      throw new Error(`${resource.type} "${resource.name}" is not the locked resource`);
    const text = serializeResource(resource);
    await this.#begin();
    const created = this.#previous === undefined;
    await this.#check(text);
    const version = await this.#commit(text);
    return { created, file: this.file, version };
  }

  async delete(): Promise<DeleteResult> {
    await this.#begin();
    if (this.#previous === undefined) {
      await this.end();
      return { deleted: false, file: this.file };
    }
    await this.#check(undefined);
    const version = await this.#commit(undefined);
    return { deleted: true, file: this.file, version };
  }

  /** Puts `previous` back unchecked: it is what was stored before this write. */
  async undo(previous: string | undefined): Promise<void> {
    await this.#begin();
    if (previous === this.#previous) {
      await this.end();
      return;
    }
    await this.#commit(previous);
  }

  /** Rolls back what is still open and gives the connection back. */
  async end(): Promise<void> {
    const client = this.#client;
    if (client === undefined) return;
    this.#client = undefined;
    try {
      await client.query('ROLLBACK');
      client.release();
    } catch (error) {
      client.release(error as Error);
    }
  }

  async #begin(): Promise<void> {
    if (this.#client !== undefined) return;
    this.#ctx.ensureUp();
    this.#startedAt = performance.now();
    let client: PoolClient | undefined;
    try {
      client = await this.#ctx.pool.connect();
      await client.query('BEGIN');
      const bumped = await client.query<{ value: string }>(
        "UPDATE mtp_authz_meta SET value = value + 1 WHERE key = 'store_version' RETURNING value",
      );
      this.#version = Number(bumped.rows[0]?.value);
      if (!Number.isSafeInteger(this.#version)) throw new Error('mtp_authz_meta has no store_version row');
      const since = this.#ctx.mirror.version;
      const changes: StoreChange[] = await readChanges(client, since);
      this.#ctx.mirror.apply(changes, this.#version - 1);
      const row = await client.query<{ body: string | null }>(
        'SELECT body FROM mtp_authz_resources WHERE type = $1 AND mesh = $2 AND name = $3 FOR UPDATE',
        [this.#key.type, this.#key.mesh, this.#key.name],
      );
      this.#previous = row.rows[0]?.body ?? undefined;
      this.#client = client;
    } catch (error) {
      if (client !== undefined) client.release(error as Error);
      throw this.#ctx.failure(error);
    }
  }

  /** The set as it would be with the change must load; otherwise nothing is stored. */
  async #check(text: string | undefined): Promise<void> {
    const result = await this.#ctx.validate(this.#ctx.mirror.with(this.file, text));
    if (result.ok) return;
    await this.end();
    throw new ChangeRejected(result.errors);
  }

  async #commit(text: string | undefined): Promise<number> {
    const client = this.#client;
    if (client === undefined) throw new Error('no transaction is open');
    const version = this.#version;
    try {
      await client.query(
        `INSERT INTO mtp_authz_resources (type, mesh, name, body, version, updated_at)
         VALUES ($1, $2, $3, $4, $5, now())
         ON CONFLICT (type, mesh, name)
         DO UPDATE SET body = EXCLUDED.body, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at`,
        [this.#key.type, this.#key.mesh, this.#key.name, text ?? null, version],
      );
      await client.query(
        `SELECT pg_notify($1, json_build_object('version', $2::bigint,
           'committedAt', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text)`,
        [CHANGES_CHANNEL, version],
      );
      await client.query('COMMIT');
    } catch (error) {
      this.#client = undefined;
      client.release(error as Error);
      throw this.#ctx.failure(error);
    }
    this.#client = undefined;
    client.release();
    this.#ctx.mirror.apply([{ file: this.file, text, version }]);
    this.#ctx.observeWrite((performance.now() - this.#startedAt) / 1000);
    this.#previous = text;
    return version;
  }
}
