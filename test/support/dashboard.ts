/** The Grafana dashboard and the metric names its PromQL queries use. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Dashboard {
  schemaVersion: number;
  panels: { type: string; title: string; datasource?: unknown; targets?: { expr: string }[] }[];
  templating: { list: { name: string; type: string; query?: unknown; definition?: string }[] };
}

export const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
]);

/** Metric names in a PromQL expression: identifiers that are not functions, keywords or labels. */
export function metricNamesIn(expr: string): string[] {
  const text = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    // Numbers and durations (`offset 5m`): a metric name never starts with a digit.
    .replace(/\b\d[\d.]*(?:e[+-]?\d+)?(?:ms|[smhdwy])?\b/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/^label_values\(([^,]+),[^)]*\)$/, '$1');
  const names: string[] = [];
  for (const match of text.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?/g)) {
    const [whole, call] = match;
    const word = whole.trim();
    if (call !== undefined || PROMQL_WORDS.has(word.toLowerCase())) continue;
    names.push(word);
  }
  return names;
}

export const DASHBOARD_FILE = join(import.meta.dirname, '../../deploy/grafana/mtp-authz-dashboard.json');

export function readDashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;
}

/** Every metric name the dashboard's queries and variables read. */
export function dashboardMetricNames(dashboard: Dashboard = readDashboard()): Set<string> {
  const queries = [
    ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
    ...dashboard.templating.list.flatMap((v) => (v.definition === undefined ? [] : [v.definition])),
  ];
  return new Set(queries.flatMap(metricNamesIn));
}
