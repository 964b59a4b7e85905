/**
 * deploy/prometheus/: the alert rules parse, each has what Alertmanager needs, and every query
 * reads metrics the service exports, with label names and values those metrics have.
 */
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  CHECK_ERROR_CODES,
  createMetrics,
  DECISION_LABELS,
  METRIC_NAMES,
} from '../../src/observability/metrics.js';
import { metricNamesIn } from '../support/dashboard.js';
import { loadYaml, REPO } from './contract.js';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}

const FILE = join(REPO, 'deploy/prometheus/mtp-authz-alerts.yaml');
const [ruleFile] = loadYaml(FILE) as RuleFile[];
const rules = ruleFile?.groups.flatMap((g) => g.rules) ?? [];

/** Label names of every exported metric; a histogram's series (_bucket, …) add `le`. */
function exportedLabels(): Map<string, Set<string>> {
  const registry = new Registry();
  createMetrics(registry, { defaultMetrics: false });
  const labels = new Map<string, Set<string>>();
  for (const metric of registry.getMetricsAsArray()) {
    const { name, labelNames = [] } = metric as unknown as { name: string; labelNames?: string[] };
    labels.set(name, new Set(labelNames));
    for (const suffix of ['_bucket', '_sum', '_count'])
      labels.set(`${name}${suffix}`, new Set([...labelNames, 'le']));
  }
  return labels;
}

/** Values a label can take, where the service bounds them. */
const LABEL_VALUES: Readonly<Record<string, readonly string[]>> = {
  decision: DECISION_LABELS,
  result: ['success', 'failure', 'hit', 'miss'],
  code: CHECK_ERROR_CODES,
};
/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = new Set(['instance', 'job']);

describe('deploy/prometheus alert rules', () => {
  const labels = exportedLabels();

  it('parse as a Prometheus rule file with one group of alerts', () => {
    expect(ruleFile?.groups.map((g) => g.name)).toEqual(['mtp-authz']);
    expect(rules.length).toBeGreaterThanOrEqual(4);
    for (const rule of rules) {
      expect(rule.alert, rule.expr).toMatch(/^MtpAuthz[A-Za-z]+$/);
      expect(typeof rule.expr).toBe('string');
      if (rule.for !== undefined) expect(rule.for).toMatch(/^\d+[smh]$/);
      expect(rule.labels?.severity, rule.alert).toMatch(/^(warning|critical)$/);
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
      expect(rule.annotations?.description, rule.alert).toBeTruthy();
      // Brackets and parentheses balance (the expression is whole).
      const stack: string[] = [];
      for (const char of rule.expr.replace(/"(?:[^"\\]|\\.)*"/g, '""')) {
        if ('([{'.includes(char)) stack.push(char);
        else if (')]}'.includes(char))
          expect(stack.pop(), rule.alert).toBe({ ')': '(', ']': '[', '}': '{' }[char]);
      }
      expect(stack, rule.alert).toEqual([]);
    }
  });

  it('cover stale policies, reload failures, a deny-rate jump and refused Checks', () => {
    const metricsOf = (alert: string) => {
      const rule = rules.find((r) => r.alert === alert);
      expect(rule, alert).toBeDefined();
      return { names: metricNamesIn(rule?.expr ?? ''), expr: rule?.expr ?? '' };
    };
    expect(metricsOf('MtpAuthzPolicyStale').names).toContain(METRIC_NAMES.stale);
    const reloads = metricsOf('MtpAuthzPolicyReloadFailures');
    expect(reloads.names).toContain(METRIC_NAMES.reloads);
    expect(reloads.expr).toContain('result="failure"');
    const denies = metricsOf('MtpAuthzDenyRateJump');
    expect(denies.names).toContain(METRIC_NAMES.checks);
    expect(denies.expr).toContain('decision="deny"');
    expect(denies.expr).toContain('offset');
    expect(metricsOf('MtpAuthzRefusedChecks').names).toContain(METRIC_NAMES.checkErrors);
  });

  it('read only exported metrics, with their own label names and values', () => {
    for (const rule of rules) {
      const names = metricNamesIn(rule.expr);
      expect(names.length, rule.alert).toBeGreaterThan(0);
      const known = new Set<string>(TARGET_LABELS);
      for (const name of names) {
        expect(labels.has(name), `${rule.alert}: ${name} is not exported`).toBe(true);
        for (const label of labels.get(name) ?? []) known.add(label);
      }
      for (const [, name, matchers] of rule.expr.matchAll(/([a-z_:][a-z0-9_:]*)\{([^}]*)\}/g)) {
        for (const [, label, , value] of (matchers ?? '').matchAll(/(\w+)\s*(=~|!=|!~|=)\s*"([^"]*)"/g)) {
          expect(
            labels.get(name ?? '')?.has(label ?? ''),
            `${rule.alert}: ${name} has no label ${label}`,
          ).toBe(true);
          const allowed = LABEL_VALUES[label ?? ''];
          if (allowed !== undefined) expect(allowed, `${rule.alert}: ${label}="${value}"`).toContain(value);
        }
      }
      for (const [, list] of rule.expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) {
        for (const label of (list ?? '').split(',').map((l) => l.trim())) {
          expect(known.has(label), `${rule.alert}: no metric of it has label ${label}`).toBe(true);
        }
      }
      for (const [, label] of JSON.stringify(rule.annotations).matchAll(/\$labels\.(\w+)/g)) {
        expect(rule.expr, `${rule.alert}: the annotation reads $labels.${label}`).toMatch(
          new RegExp(`by \\([^)]*\\b${label}\\b`),
        );
      }
    }
  });
});
