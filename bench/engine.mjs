// Policy engine benchmark: compile 10 000 policies over 1 000 services, then time decide() on the
// warm table against a baseline measured in the same run (an lru-cache hit, the cost of a decision
// cache hit); the same again for 10 000 `spec.rules` policies of the same shape.
// Usage: node bench/engine.mjs [--quick]   (needs `npm run build` first)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LRUCache } from 'lru-cache';
import { decide } from '../dist/decision/decide.js';
import { clientFromUris, makeDestination } from '../dist/decision/identity.js';
import { compilePolicySet } from '../dist/policy/compile.js';
import { loadPolicies } from '../dist/policy/load.js';

const quick = process.argv.includes('--quick');
const SERVICES = 1000;
const POLICIES_PER_SERVICE = 10;
const source = { file: 'bench', line: 1, col: 1 };

function policies() {
  const out = [];
  for (let s = 0; s < SERVICES; s++) {
    for (let p = 0; p < POLICIES_PER_SERVICE; p++) {
      const kind = p % 2 === 0 ? 'MeshService' : 'MeshServiceSubset';
      out.push({
        type: 'MeshTrafficPermission',
        name: `svc-${s}-p${p}`,
        mesh: 'default',
        labels: {},
        form: 'universal',
        source,
        targetRef:
          kind === 'MeshService'
            ? { kind, name: `svc-${s}` }
            : { kind, name: `svc-${s}`, tags: { version: 'v1' } },
        from: [
          { targetRef: { kind: 'MeshService', name: `svc-${(s + p + 1) % SERVICES}` }, action: 'Allow' },
          { targetRef: { kind: 'MeshSubset', tags: { env: 'dev', 'kuma.io/zone': 'east' } }, action: 'Deny' },
          {
            targetRef: { kind: 'MeshSubset', tags: { 'kuma.io/service': `svc-${(s + 7 * p) % SERVICES}` } },
            action: 'AllowWithShadowDeny',
          },
        ],
      });
    }
  }
  out.push({
    ...out[0],
    name: 'deny-all',
    targetRef: { kind: 'Mesh' },
    from: [{ targetRef: { kind: 'Mesh' }, action: 'Deny' }],
  });
  return out;
}

/** The same targets, each from list turned into rules: deny, allowWithShadowDeny and allow matches. */
function rulesPolicies() {
  return policies().map((policy, i) => {
    if (policy.name === 'deny-all') return policy;
    const s = Math.floor(i / POLICIES_PER_SERVICE);
    const p = i % POLICIES_PER_SERVICE;
    const id = (n) => ({ spiffeID: { type: 'Exact', value: `spiffe://default/svc-${n % SERVICES}` } });
    return {
      ...policy,
      from: [],
      rules: [
        {
          deny: [id(s + 500 + p)],
          allowWithShadowDeny: [id(s + 7 * p)],
          allow: [id(s + p + 1), { spiffeID: { type: 'Prefix', value: `spiffe://default/svc-${s}9` } }],
        },
      ],
    };
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const set = { policies: policies(), meshes: [], accessRoles: [], accessRoleBindings: [], warnings: [] };
const rulesSet = { ...set, policies: rulesPolicies() };

// Compile: whole table, then every inbound's program (what the first request to each pays).
function timeCompile(policySet) {
  const runs = [];
  let compiled;
  for (let i = 0; i < (quick ? 2 : 5); i++) {
    const t0 = performance.now();
    compiled = compilePolicySet(policySet, { generation: i + 1 });
    for (let s = 0; s < SERVICES; s++)
      compiled.program(
        makeDestination(
          'default',
          new Map([
            ['kuma.io/service', `svc-${s}`],
            ['version', 'v1'],
          ]),
        ),
      );
    runs.push(performance.now() - t0);
  }
  return { runs, compiled };
}
const { runs: compileRuns, compiled: table } = timeCompile(set);
const { runs: rulesCompileRuns, compiled: rulesTable } = timeCompile(rulesSet);

// Load: the same policies as YAML files (read + parse + validate), for scale.
async function timeLoad(policySet) {
  const dir = mkdtempSync(join(tmpdir(), 'mtp-bench-'));
  for (let s = 0; s < SERVICES; s++) {
    const docs = policySet.policies
      .filter((p) => p.name.startsWith(`svc-${s}-`))
      .map((p) =>
        JSON.stringify({
          type: p.type,
          name: p.name,
          mesh: p.mesh,
          spec:
            p.rules === undefined
              ? {
                  targetRef: p.targetRef,
                  from: p.from.map((f) => ({ targetRef: f.targetRef, default: { action: f.action } })),
                }
              : { targetRef: p.targetRef, rules: p.rules.map((r) => ({ default: r })) },
        }),
      );
    writeFileSync(join(dir, `svc-${s}.yaml`), docs.join('\n---\n'));
  }
  const t0 = performance.now();
  const loaded = await loadPolicies([dir]);
  const ms = performance.now() - t0;
  rmSync(dir, { recursive: true, force: true });
  if (!loaded.ok) throw new Error(`bench policies failed to load: ${loaded.errors.length} errors`);
  return ms;
}
const loadMs = await timeLoad(set);
const rulesLoadMs = await timeLoad(rulesSet);

// decide() on the warm table, single-valued clients.
const destinations = Array.from({ length: SERVICES }, (_, s) =>
  makeDestination(
    'default',
    new Map([
      ['kuma.io/service', `svc-${s}`],
      ['version', 'v1'],
    ]),
  ),
);
const clients = Array.from({ length: 1000 }, (_, i) =>
  clientFromUris([
    `spiffe://default/svc-${(i * 13) % SERVICES}`,
    `kuma://env/${i % 3 ? 'prod' : 'dev'}`,
    'kuma://kuma.io/zone/east',
  ]),
);
const cache = new LRUCache({ max: 100_000 });
for (let i = 0; i < 1000; i++) cache.set(`${i}`, decide(table, destinations[i], clients[i]));
const keys = Array.from({ length: 1000 }, (_, i) => `${i}`);

const BATCH = 10_000;
const batches = quick ? 20 : 200;
let sink = 0;
function timeBatches(fn) {
  const perOp = [];
  for (let b = 0; b < batches; b++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < BATCH; i++) sink += fn(i) ? 1 : 0;
    perOp.push(Number(process.hrtime.bigint() - t) / BATCH / 1000);
  }
  return perOp;
}
const decideUs = timeBatches(
  (i) => decide(table, destinations[(i * 7) % SERVICES], clients[i % 1000]).action === 'Allow',
);
const cacheUs = timeBatches((i) => cache.get(keys[i % 1000]) !== undefined);
// Rules: clients as MeshIdentity issues them, one SPIFFE ID SAN each.
const rulesClients = Array.from({ length: 1000 }, (_, i) =>
  clientFromUris([`spiffe://default/svc-${(i * 13) % SERVICES}`]),
);
const outcomes = {};
for (let i = 0; i < 1000; i++) {
  const d = decide(rulesTable, destinations[(i * 7) % SERVICES], rulesClients[i]);
  outcomes[d.via === 'rule' ? d.action : d.via] = (outcomes[d.via === 'rule' ? d.action : d.via] ?? 0) + 1;
}
const rulesDecideUs = timeBatches(
  (i) => decide(rulesTable, destinations[(i * 7) % SERVICES], rulesClients[i % 1000]).action === 'Allow',
);

const result = {
  policies: set.policies.length,
  services: SERVICES,
  compile_ms_median: Number(median(compileRuns).toFixed(1)),
  compile_target_ms: 1000,
  load_yaml_ms: Number(loadMs.toFixed(1)),
  decide_us_median: Number(median(decideUs).toFixed(3)),
  decide_target_us: 5,
  baseline_cache_hit_us_median: Number(median(cacheUs).toFixed(3)),
  decide_vs_cache_hit: Number((median(decideUs) / median(cacheUs)).toFixed(2)),
  rules_policies: rulesSet.policies.length,
  rules_compile_ms_median: Number(median(rulesCompileRuns).toFixed(1)),
  rules_load_yaml_ms: Number(rulesLoadMs.toFixed(1)),
  rules_decide_us_median: Number(median(rulesDecideUs).toFixed(3)),
  rules_outcomes_of_1000: outcomes,
  sink,
};
console.log(JSON.stringify(result));
const ok =
  result.compile_ms_median < 1000 &&
  result.decide_us_median < 5 &&
  result.rules_compile_ms_median < 1000 &&
  result.rules_decide_us_median < 5;
console.log(ok ? 'engine: targets met' : 'engine: TARGET MISSED');
process.exitCode = ok ? 0 : 1;
