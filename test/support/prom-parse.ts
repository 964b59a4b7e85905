/**
 * Reads a /metrics body with a real Prometheus text-format parser (parse-prometheus-text-format, a
 * port of Prometheus' own), and looks samples up by name and labels.
 */
import { createRequire } from 'node:module';

export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
  readonly metrics: readonly Sample[];
}

export interface Sample {
  readonly labels?: Readonly<Record<string, string>>;
  /** Counters, gauges, untyped. */
  readonly value?: string;
  /** Histograms: upper bound (as written after `le=`) → cumulative count. */
  readonly buckets?: Readonly<Record<string, string>>;
  readonly count?: string;
  readonly sum?: string;
}

const parse = createRequire(import.meta.url)('parse-prometheus-text-format') as (
  text: string,
) => MetricFamily[];

export function parseMetrics(text: string): Map<string, MetricFamily> {
  return new Map(parse(text).map((family) => [family.name, family]));
}

export function family(families: Map<string, MetricFamily>, name: string): MetricFamily {
  const found = families.get(name);
  if (found === undefined) throw new Error(`metric ${name} is not exported`);
  return found;
}

function matches(sample: Sample, labels: Record<string, string>): boolean {
  const have = sample.labels ?? {};
  const keys = Object.keys(labels);
  return keys.length === Object.keys(have).length && keys.every((k) => have[k] === labels[k]);
}

/** The value of the series with exactly these labels; undefined when the series does not exist. */
export function sampleValue(
  families: Map<string, MetricFamily>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const sample = family(families, name).metrics.find((s) => matches(s, labels));
  return sample?.value === undefined ? undefined : Number(sample.value);
}

/** Every label set of a metric, for counting series. */
export function seriesOf(families: Map<string, MetricFamily>, name: string): Record<string, string>[] {
  return family(families, name).metrics.map((s) => ({ ...(s.labels ?? {}) }));
}
