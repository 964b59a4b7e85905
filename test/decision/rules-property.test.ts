/**
 * Randomized agreement for `spec.rules`: random policy sets (rules and from policies mixed, every
 * top-level kind) × random clients (several SANs, in any order, of any trust domain) × random
 * inbounds (tags, SNI), decided by the compiled table (directly and through the decision cache)
 * and by a slow evaluator written here from SPEC §2.6 alone. They must never disagree.
 */
import { describe, expect, it } from 'vitest';
import { DecisionCache } from '../../src/decision/cache.js';
import { decide } from '../../src/decision/decide.js';
import { clientFromUris, makeDestination } from '../../src/decision/identity.js';
import type { Decision, Destination } from '../../src/decision/types.js';
import { compilePolicySet } from '../../src/policy/compile.js';
import type { MeshTrafficPermission, MtpRule, RuleMatch, TargetRef } from '../../src/policy/types.js';
import { mtp, policySet } from '../support/policies.js';
import { rulesMtp } from '../support/rules-policies.js';
import { seededRandom } from '../support/random.js';

let next = seededRandom(1);
const random = (n: number): number => Math.floor(next() * n);
const pick = <T>(items: readonly T[]): T => items[random(items.length)] as T;
const chance = (p: number): boolean => random(1000) < p * 1000;

const SERVICES = ['backend', 'web', 'orders'];
const TRUST_DOMAINS = ['default', 'default.zone-1.mesh.local', 'td1', 'td1.evil'];
const SPIFFE_IDS = TRUST_DOMAINS.flatMap((td) => [`spiffe://${td}/web`, `spiffe://${td}/ns/demo/sa/web`]);
const PREFIXES = [...TRUST_DOMAINS.map((td) => `spiffe://${td}`), 'spiffe://default/ns', 'spiffe://td1/w'];
const SNIS = ['backend.mesh', 'web.mesh'];

function randomMatch(): RuleMatch {
  const match: { spiffeID?: RuleMatch['spiffeID']; sni?: RuleMatch['sni'] } = {};
  const shape = random(10);
  if (shape < 8) {
    match.spiffeID = chance(0.5)
      ? { type: 'Exact', value: pick(SPIFFE_IDS) }
      : { type: 'Prefix', value: pick(PREFIXES) };
  }
  if (shape >= 7 && shape < 9) match.sni = { type: 'Exact', value: pick(SNIS) };
  return match; // shape 9: an empty match, which matches nothing
}

const matches = (n: number): RuleMatch[] => Array.from({ length: random(n) }, randomMatch);

function randomRule(): MtpRule {
  return { deny: matches(2), allowWithShadowDeny: matches(2), allow: matches(3) };
}

function randomTarget(): TargetRef {
  switch (random(5)) {
    case 0:
      return { kind: 'Mesh' };
    case 1:
      return { kind: 'MeshService', name: pick(SERVICES) };
    case 2:
      return { kind: 'MeshSubset', tags: { version: pick(['v1', 'v2']) } };
    case 3:
      return chance(0.5)
        ? { kind: 'Dataplane', labels: { app: pick(SERVICES) } }
        : { kind: 'Dataplane', sectionName: pick(['http', 'grpc']) };
    default:
      return { kind: 'Dataplane' };
  }
}

function randomPolicies(): MeshTrafficPermission[] {
  const names = ['a', 'b', 'c', 'd', 'e', 'f'].slice(0, 1 + random(6));
  return names.map((name) => {
    const labels: Record<string, string> = chance(0.3) ? { 'kuma.io/origin': pick(['global', 'zone']) } : {};
    if (chance(0.3))
      return mtp(name, randomTarget(), [[{ kind: 'Mesh' }, pick(['Allow', 'Deny'] as const)]], { labels });
    const rules = Array.from({ length: 1 + random(2) }, randomRule);
    return rulesMtp(name, randomTarget(), rules, { labels });
  });
}

function randomDestination(): Destination {
  const service = pick(SERVICES);
  const tags = new Map([['kuma.io/service', service]]);
  if (chance(0.6)) tags.set('version', pick(['v1', 'v2']));
  if (chance(0.6)) tags.set('app', pick(SERVICES));
  if (chance(0.5)) tags.set('mtp.section-name', pick(['http', 'grpc']));
  return makeDestination('default', tags, chance(0.5) ? pick(SNIS) : undefined);
}

function randomSans(): string[] {
  const td = pick(TRUST_DOMAINS);
  const own = SPIFFE_IDS.filter((id) => id.startsWith(`spiffe://${td}/`));
  const sans = Array.from({ length: 1 + random(3) }, () => (chance(0.1) ? pick(SPIFFE_IDS) : pick(own)));
  if (chance(0.4)) sans.splice(random(sans.length + 1), 0, `kuma://version/${pick(['v1', 'v2'])}`);
  return sans;
}

// --- the reference: SPEC §2.3 step 3–4 and §2.6, read literally ----------------------------

function selects(ref: TargetRef, tags: ReadonlyMap<string, string>): boolean {
  const has = (key: string, value: string) => tags.get(key) === value;
  switch (ref.kind) {
    case 'Mesh':
      return true;
    case 'MeshService':
      return has('kuma.io/service', ref.name ?? '');
    case 'MeshServiceSubset':
      return (
        has('kuma.io/service', ref.name ?? '') && Object.entries(ref.tags ?? {}).every(([k, v]) => has(k, v))
      );
    case 'MeshSubset':
      return Object.entries(ref.tags ?? {}).every(([k, v]) => has(k, v));
    case 'Dataplane':
      return (
        Object.entries(ref.labels ?? {}).every(([k, v]) => has(k, v)) &&
        (ref.sectionName === undefined || has('mtp.section-name', ref.sectionName))
      );
  }
}

const KIND_ORDER = ['Mesh', 'Dataplane', 'MeshSubset', 'MeshService', 'MeshServiceSubset'];

function kumaOrder(a: MeshTrafficPermission, b: MeshTrafficPermission): number {
  const origin = (p: MeshTrafficPermission) =>
    ({ global: 0, zone: 2 })[p.labels['kuma.io/origin'] ?? ''] ?? 1;
  const dataplane = (p: MeshTrafficPermission) =>
    p.targetRef.kind === 'Dataplane' && p.targetRef.sectionName !== undefined ? 1 : 0;
  return (
    KIND_ORDER.indexOf(a.targetRef.kind) - KIND_ORDER.indexOf(b.targetRef.kind) ||
    (a.targetRef.kind === 'Dataplane' && b.targetRef.kind === 'Dataplane'
      ? dataplane(a) - dataplane(b)
      : 0) ||
    origin(a) - origin(b) ||
    (a.name === b.name ? 0 : a.name < b.name ? 1 : -1)
  );
}

type Reference = Pick<Decision, 'action' | 'via' | 'decidedBy'> & { policies: string[] };

function referenceRules(
  policies: MeshTrafficPermission[],
  d: Destination,
  sans: string[],
): Reference | 'from' {
  const selected = policies.filter((p) => selects(p.targetRef, d.tags)).sort(kumaOrder);
  const withRules = selected.filter((p) => p.rules !== undefined);
  if (withRules.length === 0) return 'from';
  // SPEC §2.4: SPIFFE IDs of different trust domains in one certificate are an invalid identity.
  const domains = new Set(sans.filter((s) => s.startsWith('spiffe://')).map((s) => s.split('/')[2]));
  if (domains.size > 1) return { action: 'Deny', via: 'invalid-identity', decidedBy: null, policies: [] };
  const joined = sans.join(',');
  const hits: { list: string; policy: string; ruleIndex: number; index: number; match: RuleMatch }[] = [];
  for (const policy of withRules) {
    (policy.rules ?? []).forEach((rule, ruleIndex) => {
      for (const list of ['deny', 'allowWithShadowDeny', 'allow'] as const) {
        rule[list].forEach((match, index) => {
          if (match.spiffeID === undefined && match.sni === undefined) return;
          const id = match.spiffeID;
          if (id?.type === 'Exact' && joined !== id.value) return;
          if (id?.type === 'Prefix' && joined.slice(0, id.value.length) !== id.value) return;
          if (match.sni !== undefined && d.sni !== match.sni.value) return;
          hits.push({ list, policy: policy.name, ruleIndex, index, match });
        });
      }
    });
  }
  const names = withRules.map((p) => p.name);
  for (const [list, action] of [
    ['deny', 'Deny'],
    ['allowWithShadowDeny', 'AllowWithShadowDeny'],
    ['allow', 'Allow'],
  ] as const) {
    const first = hits.find((h) => h.list === list);
    if (first !== undefined) {
      return {
        action,
        via: 'rule',
        decidedBy: {
          policy: first.policy,
          ruleIndex: first.ruleIndex,
          match: { list, index: first.index, ...first.match },
        },
        policies: names,
      };
    }
  }
  return { action: 'Deny', via: 'no-matching-rule', decidedBy: null, policies: names };
}

describe('spec.rules: compiled table vs the reference', () => {
  it('agree on 400 random policy sets × 40 requests each, directly and through the decision cache', () => {
    next = seededRandom(0x5eed5);
    let disagreements = 0;
    const seen = {
      Deny: 0,
      Allow: 0,
      AllowWithShadowDeny: 0,
      'no-matching-rule': 0,
      'invalid-identity': 0,
      from: 0,
    };
    for (let set = 0; set < 400; set++) {
      const policies = randomPolicies();
      const table = compilePolicySet(policySet(policies), { generation: set + 1 });
      const cache = new DecisionCache(64);
      const asked: [Destination, string[]][] = Array.from({ length: 40 }, () => [
        randomDestination(),
        randomSans(),
      ]);
      // Each question twice, in a shuffled order, so some answers come from the cache.
      for (const [d, sans] of [...asked, ...asked.slice().reverse()]) {
        const client = clientFromUris(sans);
        const want = referenceRules(policies, d, sans);
        const direct = decide(table, d, client);
        const cached = cache.decide(table, d, client);
        expect(cached).toEqual(direct);
        if (want === 'from') {
          seen.from++;
          expect(direct.via).not.toBe('no-matching-rule');
          continue;
        }
        seen[want.via === 'rule' ? want.action : (want.via as 'no-matching-rule' | 'invalid-identity')]++;
        const got = {
          action: direct.action,
          via: direct.via,
          decidedBy: direct.decidedBy,
          policies: direct.policies,
        };
        if (JSON.stringify(got) !== JSON.stringify(want)) {
          disagreements++;
          expect(got, JSON.stringify({ policies, d: [...d.tags, d.sni], sans })).toEqual(want);
        }
      }
    }
    expect(disagreements).toBe(0);
    // The generator reaches every outcome, often.
    for (const count of Object.values(seen)) expect(count).toBeGreaterThan(300);
  });
});
