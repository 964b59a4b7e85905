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
  // Under --workers the primary's value joins the workers': the largest one is the store's.
  const gauge = (name: string, help: string) => new Gauge({ name, help, registers, aggregator: 'max' });
  const counter = (name: string, help: string) => new Counter({ name, help, registers });
  const histogram = (name: string, help: string, buckets: number[], labelNames: string[] = []) =>
    new Histogram({ name, help, buckets, labelNames, registers });
  const up = gauge(
    STORE_METRIC_NAMES.up,
    '1 while the policy store is connected and listening for changes, 0 while it is not',
  );
  const roundTrip = histogram(
    STORE_METRIC_NAMES.roundTrip,
    'Policy store round trips: a write transaction, a read of changes, a full resync',
    ROUND_TRIP_BUCKETS,
    ['operation'],
  );
  const notifications = counter(
    STORE_METRIC_NAMES.notifications,
    'Change notifications received from the policy store',
  );
  const resyncs = counter(
    STORE_METRIC_NAMES.resyncs,
    'Full reads of the policy store (start-up and every reconnect)',
  );
  const served = gauge(
    STORE_METRIC_NAMES.servedVersion,
    'Policy store version of the set this replica serves',
  );
  const latest = gauge(
    STORE_METRIC_NAMES.latestVersion,
    'Highest policy store version this replica knows the database has',
  );
  const convergence = histogram(
    STORE_METRIC_NAMES.convergence,
    'From a write committed anywhere (database clock) to this replica serving it',
    CONVERGENCE_BUCKETS,
  );
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
