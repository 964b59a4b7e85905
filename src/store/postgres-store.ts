/**
 * The shared policy store (`--store postgres://…`): admin-API resources in one PostgreSQL table,
 * a copy of them here (the mirror) that every load reads, and a dedicated connection LISTENing
 * for the changes other replicas commit.
 *
 * - A notification → the changes after the mirror's version are read → the mirror moves →
 *   `onChange` reloads through the same path as a file change (the Check path never waits on
 *   the database).
 * - The listening connection lost (or its heartbeat unanswered): the store is down — writes
 *   answer 503 at once, the served set is stale — and reconnects with capped exponential
 *   back-off; once back, a full resync replaces the mirror, since notifications were missed.
 */
import pg from 'pg';
import { PerKeyQueue } from '../admin/per-key.js';
import { StoreUnavailable, type ResourceStore, type ResourceWork } from '../admin/resource-store.js';
import type { Logger } from '../observability/log.js';
import type { LoadResult, PolicyText } from '../policy/load.js';
import { backoffDelay, type Backoff, STORE_BACKOFF } from './backoff.js';
import { Mirror, type MirrorSnapshot, type StoreSource, VIRTUAL_FILE_PREFIX } from './mirror.js';
import { keyOf, readAll, readChanges, type SkippedRows } from './rows.js';
import { CHANGES_CHANNEL, migrate, SchemaError } from './schema.js';
import { StoreTransaction } from './transaction.js';
import { reasonOf, isUnreachable } from './errors.js';
import { Convergence } from './convergence.js';

/** What the store tells the metrics. */
export interface StoreObserver {
  up(up: boolean): void;
  roundTrip(operation: 'write' | 'read' | 'resync', seconds: number): void;
  notification(): void;
  resync(): void;
  latestVersion(version: number): void;
  servedVersion(version: number): void;
  converged(seconds: number): void;
}

export interface PostgresStoreOptions {
  readonly config: pg.ClientConfig;
  /** The URL without its password, for logs. */
  readonly redacted: string;
  readonly log: Logger;
  readonly observer?: StoreObserver;
  /** Loads the policy files with these store texts: a write is committed only when it succeeds. */
  readonly validate: (texts: readonly PolicyText[]) => Promise<LoadResult>;
  /** The mirror moved: reload (resolves once the reload is done). */
  readonly onChange: (reason: string) => Promise<unknown>;
  /** Told when the store goes down or comes back (staleness). */
  readonly onStatus?: (up: boolean) => void;
  readonly backoff?: Backoff;
  readonly heartbeatMs?: number;
  /** Least time between the starts of two syncs that notifications cause (default below). */
  readonly syncIntervalMs?: number;
}

/** Client-side bounds: a database that stops answering fails a call instead of holding it. */
const QUERY_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 5_000;
const POOL_SIZE = 4;
/**
 * Least time between the starts of two notification-driven syncs: a write storm elsewhere costs
 * this replica at most one reload per interval (each reads everything committed by then), while
 * a lone write is still read at once. Bounds how late a write is served here (plus one reload).
 */
export const SYNC_INTERVAL_MS = 150;

export class PostgresStore implements ResourceStore, StoreSource {
  readonly mirror = new Mirror();
  readonly #options: PostgresStoreOptions;
  readonly #config: pg.ClientConfig;
  readonly #pool: pg.Pool;
  readonly #queue = new PerKeyQueue();
  readonly #convergence: Convergence;
  #listener: pg.Client | undefined;
  #up = false;
  #downReason = 'not connected yet';
  #closed = false;
  #reconnect: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #syncing: Promise<void> | undefined;
  #syncAgain = false;
  /** performance.now() when the newest sync started. */
  #syncStartedAt = -Infinity;
  /** The mirror version the newest load read (a reload is due when the mirror is past it). */
  #loadedVersion = -1;
  #servedVersion = 0;
  #latestVersion = 0;

  private constructor(options: PostgresStoreOptions) {
    this.#options = options;
    this.#config = {
      ...options.config,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      query_timeout: QUERY_TIMEOUT_MS,
      statement_timeout: QUERY_TIMEOUT_MS,
    };
    this.#pool = new pg.Pool({ ...this.#config, max: POOL_SIZE, idleTimeoutMillis: 30_000 });
    // An idle pooled connection the server closed: the next write takes a new one.
    this.#pool.on('error', (error) =>
      options.log.debug({ reason: reasonOf(error) }, 'policy store connection closed'),
    );
    this.#convergence = new Convergence((seconds) => options.observer?.converged(seconds));
  }

  /**
   * Connects, migrates the schema, listens and reads everything. While the database cannot be
   * reached it retries with back-off, logging each attempt, for at most `timeoutMs`.
   */
  static async open(options: PostgresStoreOptions, timeoutMs: number): Promise<PostgresStore> {
    const store = new PostgresStore(options);
    const deadline = performance.now() + timeoutMs;
    for (let attempt = 1; ; attempt++) {
      try {
        await store.#connect(true);
        break;
      } catch (error) {
        const left = deadline - performance.now();
        if (error instanceof SchemaError || left <= 0) {
          await store.close(1000);
          throw error instanceof SchemaError ? error : new StoreUnavailable(reasonOf(error));
        }
        const delayMs = Math.round(Math.min(backoffDelay(attempt, options.backoff ?? STORE_BACKOFF), left));
        options.log.warn(
          { store: options.redacted, attempt, delayMs, reason: reasonOf(error) },
          'policy store unavailable; retrying',
        );
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
    store.#startHeartbeat();
    return store;
  }

  /** Connected and listening. */
  get up(): boolean {
    return this.#up;
  }

  /** Out of reach: the set served may be behind the database. */
  get stale(): boolean {
    return !this.#up;
  }

  /** The store version of the set this replica serves. */
  get servedVersion(): number {
    return this.#servedVersion;
  }

  owns(file: string): boolean {
    return file.startsWith(VIRTUAL_FILE_PREFIX);
  }

  /** The texts for a load; the load that swaps them in must then call `served(version)`. */
  snapshot(): MirrorSnapshot {
    const snapshot = this.mirror.snapshot();
    this.#loadedVersion = Math.max(this.#loadedVersion, snapshot.version);
    return snapshot;
  }

  /** A load of the store at `version` now serves. */
  served(version: number): void {
    this.#servedVersion = version;
    this.#options.observer?.servedVersion(version);
    this.#convergence.served(version);
  }

  withResource<T>(type: string, mesh: string | undefined, name: string, fn: ResourceWork<T>): Promise<T> {
    let key;
    try {
      key = keyOf(type, mesh, name);
    } catch (error) {
      return Promise.reject(error);
    }
    const { file } = key;
    return this.#queue.run(file, async () => {
      const tx = new StoreTransaction(this.#transactionContext(), key.key, file);
      try {
        return await fn(tx);
      } finally {
        await tx.end();
      }
    });
  }

  /** Stops listening and closes every connection, waiting at most `timeoutMs` for writes in flight. */
  async close(timeoutMs: number): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#reconnect);
    clearInterval(this.#heartbeat);
    const listener = this.#listener;
    this.#listener = undefined;
    const ended = Promise.allSettled([listener?.end(), this.#pool.end()]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([ended, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  #transactionContext() {
    return {
      pool: this.#pool,
      mirror: this.mirror,
      ensureUp: () => {
        if (!this.#up) throw new StoreUnavailable(this.#downReason);
      },
      failure: (error: unknown) =>
        isUnreachable(error) ? new StoreUnavailable(reasonOf(error)) : (error as Error),
      validate: this.#options.validate,
      observeWrite: (seconds: number) => this.#options.observer?.roundTrip('write', seconds),
    };
  }

  /** Opens the listening connection and reads everything (a first start also migrates). */
  async #connect(migrateSchema: boolean): Promise<void> {
    const client = new pg.Client(this.#config);
    client.on('error', (error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client, new Error('the connection was closed')));
    client.on('notification', (message) => this.#notified(message.channel, message.payload));
    try {
      await client.connect();
      if (migrateSchema) await migrate(client);
      await client.query(`LISTEN ${CHANGES_CHANNEL}`);
      await this.#resync(client);
    } catch (error) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#listener = client;
    this.#setUp(true);
  }

  #lost(client: pg.Client, error: Error): void {
    if (this.#listener !== client) return;
    this.#listener = undefined;
    client.removeAllListeners('end');
    void client.end().catch(() => undefined);
    this.#downReason = reasonOf(error);
    this.#setUp(false);
    this.#options.log.error(
      { store: this.#options.redacted, reason: this.#downReason },
      'policy store connection lost',
    );
    this.#scheduleReconnect(1);
  }

  #scheduleReconnect(attempt: number): void {
    if (this.#closed) return;
    const delayMs = backoffDelay(attempt, this.#options.backoff ?? STORE_BACKOFF);
    this.#reconnect = setTimeout(() => {
      this.#connect(false).then(
        () => {
          this.#options.log.info(
            { store: this.#options.redacted, attempt, version: this.mirror.version },
            'policy store reconnected; resynced',
          );
          // The resync replaced the mirror: load it whatever its version says.
          this.#loadedVersion = -1;
          this.#requestSync();
        },
        (error: unknown) => {
          this.#downReason = reasonOf(error);
          this.#options.log.warn(
            { store: this.#options.redacted, attempt, delayMs, reason: this.#downReason },
            'policy store unavailable; retrying',
          );
          this.#scheduleReconnect(attempt + 1);
        },
      );
    }, delayMs);
    this.#reconnect.unref();
  }

  #setUp(up: boolean): void {
    if (this.#up === up) return;
    this.#up = up;
    this.#options.observer?.up(up);
    this.#options.onStatus?.(up);
  }

  /** A round trip on the listening connection every few seconds: a silent network loss is noticed. */
  #startHeartbeat(): void {
    const every = this.#options.heartbeatMs ?? 5_000;
    this.#heartbeat = setInterval(() => {
      const listener = this.#listener;
      if (listener === undefined) return;
      listener.query('SELECT 1').catch((error: unknown) => this.#lost(listener, error as Error));
    }, every);
    this.#heartbeat.unref();
  }

  /** A full read that replaces the mirror (start-up and every reconnect). */
  async #resync(client: pg.ClientBase): Promise<void> {
    const started = performance.now();
    const all = await readAll(client, this.#skipped);
    this.mirror.replace(all.changes, all.version);
    this.#options.observer?.roundTrip('resync', (performance.now() - started) / 1000);
    this.#options.observer?.resync();
    this.#noteLatest(all.version);
  }

  #notified(channel: string, payload: string | undefined): void {
    if (channel !== CHANGES_CHANNEL) return;
    this.#options.observer?.notification();
    const note = parseNotification(payload);
    if (note !== undefined) {
      this.#noteLatest(note.version);
      this.#convergence.committed(note.version, note.committedAt, this.#servedVersion);
      if (note.version <= this.mirror.version && this.mirror.version <= this.#loadedVersion) return;
    }
    this.#requestSync();
  }

  #noteLatest(version: number): void {
    if (version <= this.#latestVersion) return;
    this.#latestVersion = version;
    this.#options.observer?.latestVersion(version);
  }

  /**
   * Reads the changes after the mirror and reloads; a burst of notifications shares one sync, and
   * syncs start at least the sync interval apart.
   */
  #requestSync(): void {
    if (this.#syncing !== undefined) {
      this.#syncAgain = true;
      return;
    }
    this.#syncing = (async () => {
      do {
        this.#syncAgain = false;
        const wait =
          this.#syncStartedAt + (this.#options.syncIntervalMs ?? SYNC_INTERVAL_MS) - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait).unref());
        this.#syncStartedAt = performance.now();
        await this.#syncOnce();
      } while (this.#syncAgain && !this.#closed);
    })().finally(() => {
      this.#syncing = undefined;
    });
  }

  async #syncOnce(): Promise<void> {
    const listener = this.#listener;
    if (listener === undefined || this.#closed) return;
    try {
      const started = performance.now();
      const changes = await readChanges(listener, this.mirror.version, this.#skipped);
      this.mirror.apply(changes);
      this.#options.observer?.roundTrip('read', (performance.now() - started) / 1000);
      this.#noteLatest(this.mirror.version);
    } catch (error) {
      this.#lost(listener, error as Error);
      return;
    }
    if (this.mirror.version > this.#loadedVersion)
      await this.#options.onChange(`policy store: version ${this.mirror.version}`).catch(() => undefined);
  }

  readonly #skipped: SkippedRows = (rows) =>
    this.#options.log.warn({ rows }, 'policy store rows skipped: their type, mesh or name cannot be stored');
}

function parseNotification(
  payload: string | undefined,
): { version: number; committedAt: number } | undefined {
  try {
    const value = JSON.parse(payload ?? '') as { version?: unknown; committedAt?: unknown };
    const version = Number(value.version);
    const committedAt = Date.parse(String(value.committedAt));
    if (!Number.isSafeInteger(version) || Number.isNaN(committedAt)) return undefined;
    return { version, committedAt };
  } catch {
    return undefined;
  }
}
