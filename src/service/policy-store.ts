/**
 * `--store`: the shared policy store, opened before the first load (it waits for the database up
 * to `--store-connect-timeout`) and then bound to whatever reloads the process's policies.
 */
import type { Registry } from 'prom-client';
import type { Logger } from '../observability/log.js';
import { createStoreMetrics } from '../observability/store-metrics.js';
import type { PolicyLoader } from '../policy/load-off-thread.js';
import type { Settings } from '../settings/settings.js';
import { StoreUnavailable } from '../admin/resource-store.js';
import { clientConfig, StoreUrlError } from '../store/dsn.js';
import { PostgresStore } from '../store/postgres-store.js';
import { SchemaError } from '../store/schema.js';
import { policyPaths } from './assemble.js';
import { EXIT_USAGE, StartError } from './open.js';

/** The open store and how to tell it what reloads the policies once that exists. */
/** What the HTTP port reports of the set serving: stale (a failed load, or the store out of reach) and its store version. */
export interface ServingStatus {
  readonly stale: boolean;
  readonly storeVersion?: number | undefined;
}

export function servingStatus(
  reloader: { readonly stale: boolean },
  store: PostgresStore | undefined,
): ServingStatus {
  if (store === undefined) return reloader;
  return {
    get stale() {
      return reloader.stale || store.stale;
    },
    get storeVersion() {
      return store.servedVersion;
    },
  };
}

export interface LinkedStore {
  readonly store: PostgresStore;
  /** From now on a change in the store reloads through `reload` (one process, or every worker). */
  bind(parts: { reload: (reason: string) => Promise<unknown>; onStatus: (up: boolean) => void }): void;
}

/** Undefined without `--store`; throws StartError: exit 2 for bad usage, 1 when the database stays out of reach. */
export async function openPolicyStore(
  settings: Settings,
  parts: { readonly log: Logger; readonly loader: PolicyLoader; readonly registry: Registry },
): Promise<LinkedStore | undefined> {
  const location = settings.store;
  if (location === undefined) return undefined;
  const { log, loader, registry } = parts;
  let config;
  try {
    config = clientConfig(location, settings.storePasswordFile);
  } catch (error) {
    if (error instanceof StoreUrlError) throw new StartError(EXIT_USAGE, error.message);
    throw error;
  }
  // Changes seen before the reloader exists are reloaded as soon as it does.
  let reload: ((reason: string) => Promise<unknown>) | undefined;
  let missed: string | undefined;
  let onStatus: ((up: boolean) => void) | undefined;
  const paths = policyPaths(settings);
  let store: PostgresStore;
  try {
    store = await PostgresStore.open(
      {
        config,
        redacted: location.redacted,
        log,
        observer: createStoreMetrics(registry),
        validate: (texts) => loader.load(paths, texts),
        onChange: (reason) => {
          if (reload !== undefined) return reload(reason);
          missed = reason;
          return Promise.resolve();
        },
        onStatus: (up) => onStatus?.(up),
      },
      settings.storeConnectTimeoutMs,
    );
  } catch (error) {
    const reason =
      error instanceof StoreUnavailable
        ? error.reason
        : error instanceof Error
          ? error.message
          : String(error);
    if (error instanceof SchemaError) throw new StartError(1, `policy store ${location.redacted}: ${reason}`);
    throw new StartError(
      1,
      `cannot reach the policy store ${location.redacted} within --store-connect-timeout ${settings.storeConnectTimeoutMs / 1000}s: ${reason}`,
    );
  }
  log.info(
    { store: location.redacted, version: store.mirror.version, resources: store.mirror.size },
    'policy store connected',
  );
  return {
    store,
    bind(bound) {
      reload = bound.reload;
      onStatus = bound.onStatus;
      if (missed !== undefined) void reload(missed);
      missed = undefined;
    },
  };
}
