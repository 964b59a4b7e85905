#!/usr/bin/env node
/**
 * `npm run demo`: starts mtp-authz on the example policies, sends it the Check requests an Envoy
 * sidecar would send for a handful of calls between workloads, and prints who was allowed, who
 * was denied, and which policy decided.
 *
 * The client speaks like Envoy's ext_authz filter: the real method path, a CheckRequest encoded
 * with Envoy's field numbers (declared here, independently of the service's own .proto files),
 * maps as entries, the peer certificate as Envoy's URL-encoded PEM (include_peer_certificate),
 * the destination's labels from node metadata. The workload certificates are issued at run time by
 * a throw-away CA with the openssl CLI, like a mesh's built-in CA.
 *
 * Usage: node scripts/demo.mjs [--policies DIR] [--grpc-address HOST:PORT [--http-address HOST:PORT]]
 * With --grpc-address it talks to a server that is already running instead of starting one.
 * Exits 0 when every answer is the expected one.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CHECK_METHOD = '/envoy.service.auth.v3.Authorization/Check';
const DESTINATION_TAGS_METADATA = 'x-mtp-destination-tags';
const START_TIMEOUT_MS = 15_000;

// ------------------------------------------------------------------------------------------------
// The scenarios of the MeshTrafficPermission page, against examples/policies (see its README: the
// examples live in meshes default, zones and open).

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
  {
    name: 'web (zone us-east, env prod) → backend',
    client: {
      service: 'web',
      uris: ['spiffe://zones/web', 'kuma://kuma.io/zone/us-east', 'kuma://env/prod'],
    },
    destination: { mesh: 'zones', service: 'backend', labels: { app: 'backend' } },
    http: { method: 'GET', path: '/items' },
    expect: { decision: 'allowed', policy: 'example-with-tags', via: 'rule' },
  },
  {
    name: 'web (zone us-east, env dev) → backend',
    client: {
      service: 'web',
      uris: ['spiffe://zones/web', 'kuma://kuma.io/zone/us-east', 'kuma://env/dev'],
    },
    destination: { mesh: 'zones', service: 'backend', labels: { app: 'backend' } },
    http: { method: 'GET', path: '/items' },
    expect: { decision: 'denied', policy: 'example-with-tags', via: 'rule' },
  },
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
// Envoy's messages, with Envoy's field numbers (envoy/service/auth/v3/*.proto, envoy/config/core/v3,
// envoy/type/v3, google/rpc/status.proto, google/protobuf/struct.proto); only the fields used here.

const wire = protobuf.Root.fromJSON({
  nested: {
    google: {
      nested: {
        protobuf: {
          nested: {
            Timestamp: { fields: { seconds: { type: 'int64', id: 1 }, nanos: { type: 'int32', id: 2 } } },
            Struct: { fields: { fields: { keyType: 'string', type: 'Value', id: 1 } } },
            Value: {
              oneofs: {
                kind: {
                  oneof: ['nullValue', 'numberValue', 'stringValue', 'boolValue', 'structValue', 'listValue'],
                },
              },
              fields: {
                nullValue: { type: 'int32', id: 1 },
                numberValue: { type: 'double', id: 2 },
                stringValue: { type: 'string', id: 3 },
                boolValue: { type: 'bool', id: 4 },
                structValue: { type: 'Struct', id: 5 },
                listValue: { type: 'ListValue', id: 6 },
              },
            },
            ListValue: { fields: { values: { rule: 'repeated', type: 'Value', id: 1 } } },
          },
        },
        rpc: {
          nested: {
            Status: { fields: { code: { type: 'int32', id: 1 }, message: { type: 'string', id: 2 } } },
          },
        },
      },
    },
    envoy: {
      nested: {
        config: {
          nested: {
            core: {
              nested: {
                v3: {
                  nested: {
                    SocketAddress: {
                      fields: { address: { type: 'string', id: 2 }, portValue: { type: 'uint32', id: 3 } },
                    },
                    Address: { fields: { socketAddress: { type: 'SocketAddress', id: 1 } } },
                    HeaderValue: {
                      fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } },
                    },
                    HeaderValueOption: { fields: { header: { type: 'HeaderValue', id: 1 } } },
                  },
                },
              },
            },
          },
        },
        type: { nested: { v3: { nested: { HttpStatus: { fields: { code: { type: 'int32', id: 1 } } } } } } },
        service: {
          nested: {
            auth: {
              nested: {
                v3: {
                  nested: {
                    CheckRequest: { fields: { attributes: { type: 'AttributeContext', id: 1 } } },
                    AttributeContext: {
                      fields: {
                        source: { type: 'Peer', id: 1 },
                        destination: { type: 'Peer', id: 2 },
                        request: { type: 'Request', id: 4 },
                        contextExtensions: { keyType: 'string', type: 'string', id: 10 },
                      },
                      nested: {
                        Peer: {
                          fields: {
                            address: { type: 'envoy.config.core.v3.Address', id: 1 },
                            service: { type: 'string', id: 2 },
                            labels: { keyType: 'string', type: 'string', id: 3 },
                            principal: { type: 'string', id: 4 },
                            certificate: { type: 'string', id: 5 },
                          },
                        },
                        Request: {
                          fields: {
                            time: { type: 'google.protobuf.Timestamp', id: 1 },
                            http: { type: 'HttpRequest', id: 2 },
                          },
                        },
                        HttpRequest: {
                          fields: {
                            id: { type: 'string', id: 1 },
                            method: { type: 'string', id: 2 },
                            headers: { keyType: 'string', type: 'string', id: 3 },
                            path: { type: 'string', id: 4 },
                            host: { type: 'string', id: 5 },
                            scheme: { type: 'string', id: 6 },
                            size: { type: 'int64', id: 9 },
                            protocol: { type: 'string', id: 10 },
                          },
                        },
                      },
                    },
                    CheckResponse: {
                      oneofs: { httpResponse: { oneof: ['deniedResponse', 'okResponse'] } },
                      fields: {
                        status: { type: 'google.rpc.Status', id: 1 },
                        deniedResponse: { type: 'DeniedHttpResponse', id: 2 },
                        okResponse: { type: 'OkHttpResponse', id: 3 },
                        dynamicMetadata: { type: 'google.protobuf.Struct', id: 4 },
                      },
                    },
                    DeniedHttpResponse: {
                      fields: {
                        status: { type: 'envoy.type.v3.HttpStatus', id: 1 },
                        headers: { rule: 'repeated', type: 'envoy.config.core.v3.HeaderValueOption', id: 2 },
                        body: { type: 'string', id: 3 },
                      },
                    },
                    OkHttpResponse: {
                      fields: {
                        headers: { rule: 'repeated', type: 'envoy.config.core.v3.HeaderValueOption', id: 2 },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
});
const CheckRequest = wire.lookupType('envoy.service.auth.v3.CheckRequest');
const CheckResponse = wire.lookupType('envoy.service.auth.v3.CheckResponse');

/** What Envoy's `urlEncodedPemEncodedPeerCertificate()` does to the PEM. */
const ENVOY_ESCAPES = { '\n': '%0A', ' ': '%20', '+': '%2B', '/': '%2F', '=': '%3D' };
const envoyUrlEncode = (pem) => pem.replace(/[\n +/=]/g, (c) => ENVOY_ESCAPES[c]);

// ------------------------------------------------------------------------------------------------
// Certificates: a throw-away mesh CA and one workload certificate per client, via openssl.

function openssl(args, cwd) {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    const detail =
      error.code === 'ENOENT' ? 'openssl not found on PATH' : String(error.stderr ?? error.message);
    throw new Error(`openssl ${args[0]} failed: ${detail.trim()}`);
  }
}

function issueCertificates(dir, scenarios) {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1'];
  openssl(
    [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-subj',
      '/CN=mtp-authz demo mesh CA',
    ].concat([
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]),
    dir,
  );
  const pems = new Map();
  scenarios.forEach((scenario, i) => {
    if (scenario.client === undefined) return;
    const sans = scenario.client.uris.map((uri) => `URI:${uri}`).join(',');
    openssl(
      ['req', '-x509', ...ec, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-keyout', `client-${i}.key`]
        .concat(['-out', `client-${i}.pem`, '-subj', `/CN=${scenario.client.service}`])
        .concat(['-addext', `subjectAltName=${sans}`, '-addext', 'basicConstraints=critical,CA:FALSE'])
        .concat(['-addext', 'extendedKeyUsage=serverAuth,clientAuth']),
      dir,
    );
    const path = join(dir, `client-${i}.pem`);
    pems.set(scenario, { pem: readFileSync(path, 'utf8'), path });
  });
  return pems;
}

// ------------------------------------------------------------------------------------------------
// The CheckRequest an Envoy sidecar of the destination sends.

function checkRequestOf(scenario, pem, index) {
  const { client, destination, http } = scenario;
  const source = {
    address: { socketAddress: { address: `10.0.1.${10 + index}`, portValue: 40_000 + index } },
  };
  if (client !== undefined) {
    // Envoy's source.principal is the peer certificate's first URI SAN.
    source.principal = client.uris[0];
    source.certificate = envoyUrlEncode(pem);
  }
  const attributes = {
    source,
    destination: {
      address: { socketAddress: { address: '10.0.2.5', portValue: 8080 } },
      principal: `spiffe://${destination.mesh}/${destination.service}`,
      ...(destination.labels === undefined ? {} : { labels: destination.labels }),
    },
  };
  if (http !== undefined) {
    const host = `${destination.service}.mesh`;
    const id = randomUUID();
    const now = Date.now();
    attributes.request = {
      time: { seconds: Math.floor(now / 1000), nanos: (now % 1000) * 1_000_000 },
      http: {
        id,
        method: http.method,
        path: http.path,
        host,
        scheme: 'http',
        protocol: 'HTTP/1.1',
        size: -1,
        headers: {
          ':authority': host,
          ':method': http.method,
          ':path': http.path,
          ':scheme': 'http',
          'user-agent': `${client?.service ?? 'curl'}/1.0`,
          'x-request-id': id,
          // A header a client could forge; identity must never come from it.
          'x-forwarded-client-cert': 'URI=spiffe://default/orders',
        },
      },
    };
  }
  const message = CheckRequest.fromObject({ attributes });
  return Buffer.from(CheckRequest.encode(message).finish());
}

function structToObject(struct) {
  const out = {};
  for (const [key, value] of Object.entries(struct?.fields ?? {})) {
    out[key] = value.stringValue ?? value.numberValue ?? value.boolValue ?? null;
  }
  return out;
}

function check(client, scenario, request) {
  const metadata = new grpc.Metadata();
  // Set like the filter's grpc_service.initial_metadata would.
  if (scenario.destination.metadataTags !== undefined) {
    metadata.set(DESTINATION_TAGS_METADATA, scenario.destination.metadataTags);
  }
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      CHECK_METHOD,
      (bytes) => bytes,
      (bytes) => bytes,
      request,
      metadata,
      { deadline: Date.now() + 5000 },
      (error, bytes) => {
        if (error) reject(new Error(`Check RPC failed: ${error.code} ${error.details}`));
        else resolve(CheckResponse.toObject(CheckResponse.decode(bytes), { defaults: true, oneofs: true }));
      },
    );
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
  const args = [join(ROOT, 'dist', 'cli.js'), 'explain', '--policies', policies, '--output', 'json'];
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

function startServer(policies) {
  const cli = join(ROOT, 'dist', 'cli.js');
  if (!existsSync(cli))
    throw new Error(`${cli} is missing: run \`npm run build\` first (or \`npm run demo\`)`);
  const args = [
    'serve',
    '--policies',
    policies,
    '--grpc-address',
    '127.0.0.1:0',
    '--http-address',
    '127.0.0.1:0',
  ];
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr = [];
  return new Promise((resolve, reject) => {
    const ports = {};
    let started = false;
    const timer = setTimeout(
      () => fail(`no "listening" lines within ${START_TIMEOUT_MS} ms`),
      START_TIMEOUT_MS,
    );
    const fail = (why) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`mtp-authz serve did not start: ${why}\n${stderr.join('\n')}`));
    };
    child.on('error', (error) => fail(error.message));
    child.on('exit', (code, signal) => fail(`exited (${signal ?? code})`));
    createInterface({ input: child.stderr }).on('line', (line) => {
      stderr.push(line);
      let entry;
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      if (entry.msg === 'listening' && typeof entry.port === 'number') ports[entry.listener] = entry.port;
      if (!started && ports.grpc !== undefined && ports.http !== undefined) {
        started = true;
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve({
          grpcAddress: `127.0.0.1:${ports.grpc}`,
          httpAddress: `127.0.0.1:${ports.http}`,
          stop: () =>
            new Promise((done) => {
              child.once('exit', (code, signal) => done(signal ?? code));
              child.kill('SIGTERM');
            }),
        });
      }
    });
  });
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
    const pems = issueCertificates(dir, SCENARIOS);
    server =
      values['grpc-address'] === undefined
        ? await startServer(values.policies)
        : { grpcAddress: values['grpc-address'], httpAddress: values['http-address'], stop: undefined };
    process.stdout.write(
      `mtp-authz demo: ${SCENARIOS.length} Check calls to ${server.grpcAddress}` +
        `${server.stop ? ` (serving ${values.policies})` : ''}\n\n`,
    );

    const client = new grpc.Client(server.grpcAddress, grpc.credentials.createInsecure());
    const rows = [['', 'call', 'mesh', 'answer', 'policy', 'via']];
    let matched = 0;
    // Where `via` comes from: the live POST /explain, else (for a server started here) the offline
    // explain command on the same files, else nowhere. The answer itself always comes from Check.
    let viaSource = server.httpAddress === undefined ? undefined : 'live';
    for (const [index, scenario] of SCENARIOS.entries()) {
      const cert = pems.get(scenario);
      const response = await check(client, scenario, checkRequestOf(scenario, cert?.pem, index));
      const metadata = structToObject(response.dynamicMetadata);
      const denied = response.status?.code === 7;
      const decision = denied
        ? 'denied'
        : response.status?.code === 0
          ? 'allowed'
          : `code ${response.status?.code}`;
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
        denied ? `denied (${response.deniedResponse?.status?.code ?? 'no HTTP status'})` : decision,
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
