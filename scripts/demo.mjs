#!/usr/bin/env node
/**
 * `npm run demo`: starts mtp-authz on the example policies, sends it the Check requests an Envoy
 * sidecar would send for a handful of calls between workloads, and prints who was allowed, who
 * was denied, and which policy decided.
 *
 * The client speaks like Envoy's ext_authz filter, through the Envoy-side toolkit (kit/): the real
 * method path, a CheckRequest encoded with Envoy's field numbers (declared there, independently of
 * the service's own .proto files), maps as entries, the peer certificate as Envoy's URL-encoded PEM
 * (include_peer_certificate), the destination's labels from node metadata. The workload
 * certificates are issued at run time by a throw-away CA, like a mesh's built-in CA.
 *
 * Usage: node scripts/demo.mjs [--policies DIR] [--grpc-address HOST:PORT [--http-address HOST:PORT]]
 * With --grpc-address it talks to a server that is already running instead of starting one.
 * Exits 0 when every answer is the expected one.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeCa, makeWorkloadCert } from '../kit/certs.mjs';
import { connect } from '../kit/client.mjs';
import { CLI, REPO as ROOT, startServe, stopServe } from '../kit/serve.mjs';
import { encodeSidecarCheck } from '../kit/sidecar.mjs';
const DESTINATION_TAGS_METADATA = 'x-mtp-destination-tags';
const START_TIMEOUT_MS = 15_000;

// ------------------------------------------------------------------------------------------------
// The scenarios of the MeshTrafficPermission page, against examples/policies (see its README: the
// examples live in meshes default, zones and open).

/** web of zone us-east in environment `env` calls backend of mesh zones (example-with-tags). */
function webToBackend(env, decision) {
  return {
    name: `web (zone us-east, env ${env}) → backend`,
    client: {
      service: 'web',
      uris: ['spiffe://zones/web', 'kuma://kuma.io/zone/us-east', `kuma://env/${env}`],
    },
    destination: { mesh: 'zones', service: 'backend', labels: { app: 'backend' } },
    http: { method: 'GET', path: '/items' },
    expect: { decision, policy: 'example-with-tags', via: 'rule' },
  };
}

const SCENARIOS = [
  {
    name: 'orders → payments',
    client: { service: 'orders', uris: ['spiffe://default/orders', 'kuma://kuma.io/zone/us-east'] },
    destination: { mesh: 'default', service: 'payments', labels: { app: 'payments', version: 'v1' } },
    http: { method: 'POST', path: '/api/charges' },
    expect: { decision: 'allowed', policy: 'allow-orders', via: 'rule' },
  },
  {
    name: 'billing → payments',
    client: { service: 'billing', uris: ['spiffe://default/billing', 'kuma://kuma.io/zone/us-east'] },
    destination: { mesh: 'default', service: 'payments', labels: { app: 'payments', version: 'v1' } },
    http: { method: 'GET', path: '/api/charges/42' },
    expect: { decision: 'denied', policy: 'deny-all', via: 'rule' },
  },
  webToBackend('prod', 'allowed'),
  webToBackend('dev', 'denied'),
  {
    name: 'plaintext client → payments (STRICT mesh)',
    client: undefined,
    destination: { mesh: 'default', service: 'payments', labels: { app: 'payments', version: 'v1' } },
    http: { method: 'GET', path: '/api/charges' },
    expect: { decision: 'denied', policy: undefined, via: 'no-identity' },
  },
  {
    name: 'reports → postgres (TCP)',
    client: { service: 'reports', uris: ['spiffe://open/reports'] },
    destination: { mesh: 'open', service: 'postgres', metadataTags: 'app=postgres' },
    http: undefined,
    expect: { decision: 'allowed', policy: 'allow-all', via: 'rule' },
  },
];

// ------------------------------------------------------------------------------------------------
// Certificates: a throw-away mesh CA and one workload certificate per client, written to files for
// `mtp-authz explain --client-cert`.

function issueCertificates(dir, scenarios) {
  const ca = makeCa('mtp-authz demo mesh CA');
  const certs = new Map();
  scenarios.forEach((scenario, i) => {
    if (scenario.client === undefined) return;
    const cert = makeWorkloadCert({ ca, uris: scenario.client.uris, commonName: scenario.client.service });
    const path = join(dir, `client-${i}.pem`);
    writeFileSync(path, cert.pem);
    certs.set(scenario, { ...cert, path });
  });
  return certs;
}

// ------------------------------------------------------------------------------------------------
// The Check call an Envoy sidecar of the destination makes.

function check(client, scenario, cert, index) {
  const { destination, http } = scenario;
  const request = encodeSidecarCheck({
    client: {
      address: `10.0.1.${10 + index}:${40_000 + index}`,
      // Envoy's source.principal is the peer certificate's first URI SAN.
      ...(scenario.client === undefined
        ? {}
        : { principal: scenario.client.uris[0], certificate: cert.urlEncoded }),
    },
    destination: {
      address: '10.0.2.5:8080',
      principal: `spiffe://${destination.mesh}/${destination.service}`,
      ...(destination.labels === undefined ? {} : { labels: destination.labels }),
    },
    ...(http === undefined
      ? {}
      : {
          http: {
            ...http,
            host: `${destination.service}.mesh`,
            size: -1,
            headers: {
              'user-agent': `${scenario.client?.service ?? 'curl'}/1.0`,
              // A header a client could forge; identity must never come from it.
              'x-forwarded-client-cert': 'URI=spiffe://default/orders',
            },
          },
        }),
  });
  // Set like the filter's grpc_service.initial_metadata would.
  const metadata =
    destination.metadataTags === undefined ? {} : { [DESTINATION_TAGS_METADATA]: destination.metadataTags };
  return client.check(request, metadata).catch((error) => {
    throw new Error(`Check RPC failed: ${error.code} ${error.details}`);
  });
}

function destinationTagsOf(destination) {
  const tags = { 'kuma.io/service': destination.service, ...destination.labels };
  for (const pair of destination.metadataTags?.split(',') ?? []) {
    const [key, value] = pair.split('=');
    tags[key] = value;
  }
  return tags;
}

/** The explanation (action, via, decidedBy) from the live service's POST /explain, if it serves one. */
async function explainLive(httpAddress, scenario, cert) {
  const body = {
    destinationMesh: scenario.destination.mesh,
    destinationTags: destinationTagsOf(scenario.destination),
    ...(cert === undefined ? {} : { clientCert: cert.pem }),
  };
  try {
    const response = await fetch(`http://${httpAddress}/explain`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return response.ok ? await response.json() : undefined;
  } catch {
    return undefined;
  }
}

/** The same explanation from `mtp-authz explain` on the policy files the server was started with. */
function explainOffline(policies, scenario, cert) {
  const args = [CLI, 'explain', '--policies', policies, '--output', 'json'];
  args.push('--destination-mesh', scenario.destination.mesh);
  for (const [key, value] of Object.entries(destinationTagsOf(scenario.destination))) {
    args.push('--destination-tag', `${key}=${value}`);
  }
  if (cert !== undefined) args.push('--client-cert', cert.path);
  try {
    return JSON.parse(execFileSync(process.execPath, args, { encoding: 'utf8' }));
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------------------------------------------
// The server

async function startServer(policies) {
  const server = await startServe(['--policies', policies], {
    stdout: 'discard',
    timeoutMs: START_TIMEOUT_MS,
  });
  return {
    grpcAddress: server.grpcTarget,
    httpAddress: `127.0.0.1:${server.httpPort}`,
    stop: () => stopServe(server, 'SIGTERM'),
  };
}

// ------------------------------------------------------------------------------------------------

function table(rows) {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

async function main() {
  const { values } = parseArgs({
    options: {
      policies: { type: 'string', default: join(ROOT, 'examples', 'policies') },
      'grpc-address': { type: 'string' },
      'http-address': { type: 'string' },
    },
  });
  const dir = mkdtempSync(join(tmpdir(), 'mtp-authz-demo-'));
  let server;
  try {
    const certs = issueCertificates(dir, SCENARIOS);
    server =
      values['grpc-address'] === undefined
        ? await startServer(values.policies)
        : { grpcAddress: values['grpc-address'], httpAddress: values['http-address'], stop: undefined };
    process.stdout.write(
      `mtp-authz demo: ${SCENARIOS.length} Check calls to ${server.grpcAddress}` +
        `${server.stop ? ` (serving ${values.policies})` : ''}\n\n`,
    );

    const client = connect(server.grpcAddress, undefined, {}, 5000);
    const rows = [['', 'call', 'mesh', 'answer', 'policy', 'via']];
    let matched = 0;
    // Where `via` comes from: the live POST /explain, else (for a server started here) the offline
    // explain command on the same files, else nowhere. The answer itself always comes from Check.
    let viaSource = server.httpAddress === undefined ? undefined : 'live';
    for (const [index, scenario] of SCENARIOS.entries()) {
      const cert = certs.get(scenario);
      const response = await check(client, scenario, cert, index);
      const { metadata } = response;
      const denied = response.code === 7;
      const decision = denied ? 'denied' : response.code === 0 ? 'allowed' : `code ${response.code}`;
      const policy = metadata.enforced_effective_policy_id ?? undefined;
      let why = viaSource === 'live' ? await explainLive(server.httpAddress, scenario, cert) : undefined;
      if (why === undefined && viaSource === 'live') viaSource = server.stop ? 'offline' : undefined;
      if (viaSource === 'offline') why = explainOffline(values.policies, scenario, cert);
      const explainedAction = why === undefined ? undefined : why.action === 'Deny' ? 'denied' : 'allowed';
      const fromIndex = why?.decidedBy ? `[${why.decidedBy.fromIndex}]` : '';
      const ok =
        decision === scenario.expect.decision &&
        metadata.enforced_engine_result === decision &&
        policy === scenario.expect.policy &&
        (why === undefined || (why.via === scenario.expect.via && explainedAction === decision));
      if (ok) matched++;
      rows.push([
        ok ? '✓' : '✗',
        scenario.name,
        scenario.destination.mesh,
        denied ? `denied (${response.denied?.httpStatus ?? 'no HTTP status'})` : decision,
        policy === undefined ? '-' : `${policy}${fromIndex}`,
        why?.via ?? '-',
      ]);
      if (!ok) {
        rows.push([
          '',
          `  expected ${scenario.expect.decision}, policy ${scenario.expect.policy ?? '-'}`,
          '',
          '',
          '',
          '',
        ]);
      }
    }
    client.close();

    process.stdout.write(`${table(rows)}\n\n`);
    if (viaSource === 'offline') {
      process.stdout.write(
        '(via: from `mtp-authz explain` on the same files; this server has no POST /explain)\n',
      );
    } else if (viaSource === undefined) {
      process.stdout.write('(via: not shown; the server does not answer POST /explain)\n');
    }
    process.stdout.write(`${matched}/${SCENARIOS.length} answers as expected\n`);
    process.exitCode = matched === SCENARIOS.length ? 0 : 1;
  } catch (error) {
    process.stderr.write(`demo failed: ${error.message}\n`);
    process.exitCode = 1;
  } finally {
    if (server?.stop) {
      const exit = await server.stop();
      process.stdout.write(`server stopped (exit ${exit})\n`);
      if (exit !== 0) process.exitCode = 1;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
