/**
 * The shared store's metrics (`--store` only), on the registry passed in. Under `--workers` the
 * primary owns the store, so these are the primary's and join the workers' sums; gauges take the
 * largest value there.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export const STORE_METRIC_NAMES = {
  up: 'mtp_authz_store_up',
  roundTrip: 'mtp_authz_store_round_trip_seconds',
  notifications: 'mtp_authz_store_notifications_total',
  resyncs: 'mtp_authz_store_resyncs_total',
  servedVersion: 'mtp_authz_store_served_version',
  latestVersion: 'mtp_authz_store_latest_version',
  convergence: 'mtp_authz_store_convergence_seconds',
} as const;

export const STORE_OPERATIONS = ['write', 'read', 'resync'] as const;
export type StoreOperation = (typeof STORE_OPERATIONS)[number];

/** A round trip: 1 ms on a LAN to seconds against a struggling server. */
const ROUND_TRIP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Commit → served on this replica: a notification, a read and a reload. */
const CONVERGENCE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export interface StoreMetrics {
  up(up: boolean): void;
  roundTrip(operation: StoreOperation, seconds: number): void;
  notification(): void;
  resync(): void;
  latestVersion(version: number): void;
  servedVersion(version: number): void;
  converged(seconds: number): void;
}

export function createStoreMetrics(registry: Registry): StoreMetrics {
  const registers = [registry];
  const up = new Gauge({
    name: STORE_METRIC_NAMES.up,
    help: '1 while the policy store is connected and listening for changes, 0 while it is not',
    registers,
    aggregator: 'max',
  });
  const roundTrip = new Histogram({
    name: STORE_METRIC_NAMES.roundTrip,
    help: 'Policy store round trips: a write transaction, a read of changes, a full resync',
    labelNames: ['operation'],
    buckets: ROUND_TRIP_BUCKETS,
    registers,
  });
  const notifications = new Counter({
    name: STORE_METRIC_NAMES.notifications,
    help: 'Change notifications received from the policy store',
    registers,
  });
  const resyncs = new Counter({
    name: STORE_METRIC_NAMES.resyncs,
    help: 'Full reads of the policy store (start-up and every reconnect)',
    registers,
  });
  const served = new Gauge({
    name: STORE_METRIC_NAMES.servedVersion,
    help: 'Policy store version of the set this replica serves',
    registers,
    aggregator: 'max',
  });
  const latest = new Gauge({
    name: STORE_METRIC_NAMES.latestVersion,
    help: 'Highest policy store version this replica knows the database has',
    registers,
    aggregator: 'max',
  });
  const convergence = new Histogram({
    name: STORE_METRIC_NAMES.convergence,
    help: 'From a write committed anywhere (database clock) to this replica serving it',
    buckets: CONVERGENCE_BUCKETS,
    registers,
  });
  up.set(0);
  for (const operation of STORE_OPERATIONS) roundTrip.zero({ operation });
  return {
    up: (value) => up.set(value ? 1 : 0),
    roundTrip: (operation, seconds) => roundTrip.observe({ operation }, seconds),
    notification: () => notifications.inc(),
    resync: () => resyncs.inc(),
    latestVersion: (version) => latest.set(version),
    servedVersion: (version) => served.set(version),
    converged: (seconds) => convergence.observe(seconds),
  };
}
