import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clientFromUris,
  DEFAULT_MAX_URI_SANS,
  makeDestination,
  NO_CLIENT,
} from '../../src/decision/identity.js';
import type { DecisionTable } from '../../src/decision/table.js';
import { explain, explainJson } from '../../src/decision/explain.js';
import {
  MAX_EXPLAIN_BODY_BYTES,
  type ObservabilityContext,
  observabilityRoutes,
  type StateSnapshot,
} from '../../src/observability/routes.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { compilePolicySet } from '../../src/policy/compile.js';
import type { AccessRole, AccessRoleBinding, PolicySet } from '../../src/policy/types.js';
import { makeWorkloadCert } from '../support/certs.js';
import { mesh, meshDoc, mtp, policySet, service } from '../support/policies.js';
import { family, parseMetrics, sampleValue } from '../support/prom-parse.js';

const at = (file: string) => ({ file, line: 1, col: 1 });
const role: AccessRole = {
  type: 'AccessRole',
  name: 'mtp-writers',
  labels: {},
  form: 'universal',
  source: at('/etc/mtp/rbac.yaml'),
  rules: [{ types: ['MeshTrafficPermission'], names: [], access: ['CREATE'], when: [] }],
};
const binding: AccessRoleBinding = {
  type: 'AccessRoleBinding',
  name: 'team-a',
  labels: {},
  form: 'universal',
  source: at('/etc/mtp/rbac.yaml'),
  subjects: [{ type: 'Group', name: 'team-a' }],
  roles: ['mtp-writers'],
};
const base = policySet(
  [
    {
      ...mtp('allow-orders', service('backend'), [[service('orders'), 'Allow']]),
      source: at('/etc/mtp/backend.yaml'),
    },
    { ...mtp('deny-all', mesh(), [[mesh(), 'Deny']]), source: at('/etc/mtp/mesh.yaml') },
    { ...mtp('open', mesh(), [[mesh(), 'Allow']], { mesh: 'legacy' }), source: at('/etc/mtp/legacy.yaml') },
  ],
  [
    { ...meshDoc('default', 'strict'), source: at('/etc/mtp/meshes.yaml') },
    { ...meshDoc('legacy', 'permissive'), source: at('/etc/mtp/meshes.yaml') },
  ],
);
const SET: PolicySet = { ...base, accessRoles: [role], accessRoleBindings: [binding] };
const LOADED_AT = new Date('2026-03-01T12:00:00.000Z');

let server: Server;
let port: number;
let loaded = true;
const registry = new Registry();
const metrics = createMetrics(registry, { defaultMetrics: false });
const table: DecisionTable = compilePolicySet(SET, { generation: 7 });
const context: ObservabilityContext = {
  registry,
  snapshot: (): StateSnapshot | undefined =>
    loaded ? { generation: 7, loadedAt: LOADED_AT, stale: true, set: SET } : undefined,
  table: () => (loaded ? table : undefined),
};

beforeAll(async () => {
  server = createServer((req, res) => {
    const route = observabilityRoutes.find((r) => r.method === req.method && r.path === req.url);
    if (route === undefined) {
      res.writeHead(404).end();
      return;
    }
    void route.handler(req, res, context);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One request; `chunks` are sent one by one without a content-length (chunked). */
function call(method: string, path: string, body?: string | readonly (string | Buffer)[]): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      // The server may answer and close before the whole oversized body is sent.
      if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error);
    });
    if (typeof body === 'string') {
      req.setHeader('content-type', 'application/json');
      req.setHeader('content-length', Buffer.byteLength(body));
      req.end(body);
    } else if (body !== undefined) {
      for (const chunk of body) req.write(chunk);
      req.end();
    } else req.end();
  });
}

const explainBody = (fields: Record<string, unknown>) =>
  JSON.stringify({
    destinationMesh: 'default',
    destinationTags: { 'kuma.io/service': 'backend', version: 'v1' },
    ...fields,
  });
const backend = makeDestination(
  'default',
  new Map([
    ['kuma.io/service', 'backend'],
    ['version', 'v1'],
  ]),
);

describe('the route table', () => {
  it('lists GET /metrics, GET /policies and POST /explain with help texts', () => {
    expect(observabilityRoutes.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /metrics',
      'GET /policies',
      'POST /explain',
    ]);
    for (const route of observabilityRoutes) expect(route.help.length).toBeGreaterThan(10);
  });
});

describe('GET /metrics', () => {
  it('answers the registry in the Prometheus text format', async () => {
    metrics.recordCheck('default', 'Deny', 'no-policy', 0.00002);
    const answer = await call('GET', '/metrics');
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const families = parseMetrics(answer.text);
    expect(family(families, 'mtp_authz_checks_total').type).toBe('COUNTER');
    expect(
      sampleValue(families, 'mtp_authz_checks_total', {
        mesh: 'default',
        decision: 'deny',
        via: 'no-policy',
      }),
    ).toBe(1);
  });
});

describe('GET /policies', () => {
  it('lists every loaded resource with its type, mesh, name and file', async () => {
    const answer = await call('GET', '/policies');
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('application/json');
    expect(JSON.parse(answer.text)).toEqual({
      generation: 7,
      loadedAt: '2026-03-01T12:00:00.000Z',
      stale: true,
      policies: [
        {
          type: 'MeshTrafficPermission',
          mesh: 'default',
          name: 'allow-orders',
          file: '/etc/mtp/backend.yaml',
        },
        { type: 'MeshTrafficPermission', mesh: 'default', name: 'deny-all', file: '/etc/mtp/mesh.yaml' },
        { type: 'MeshTrafficPermission', mesh: 'legacy', name: 'open', file: '/etc/mtp/legacy.yaml' },
        { type: 'Mesh', mesh: 'default', name: 'default', file: '/etc/mtp/meshes.yaml' },
        { type: 'Mesh', mesh: 'legacy', name: 'legacy', file: '/etc/mtp/meshes.yaml' },
        { type: 'AccessRole', mesh: null, name: 'mtp-writers', file: '/etc/mtp/rbac.yaml' },
        { type: 'AccessRoleBinding', mesh: null, name: 'team-a', file: '/etc/mtp/rbac.yaml' },
      ],
    });
  });

  it('answers 422 for more destination tags than an inbound is explained with', async () => {
    const tags = Object.fromEntries([
      ['kuma.io/service', 'backend'],
      ...Array.from({ length: 64 }, (_, i) => [`tag-${i}`, 'x']),
    ]);
    const answer = await call('POST', '/explain', explainBody({ destinationTags: tags }));
    expect(answer.status).toBe(422);
    expect(answer.headers['content-type']).toBe('application/json');
    expect(JSON.parse(answer.text)).toEqual({
      status: 422,
      title: 'Unprocessable Content',
      detail: 'destinationTags has 65 tags, more than the 64 an inbound is explained with',
    });
  });

  it('explains a client with as many SANs as a certificate may carry', async () => {
    const sans = Array.from({ length: DEFAULT_MAX_URI_SANS }, (_, i) => `spiffe://default/s${i}`);
    const answer = await call('POST', '/explain', explainBody({ clientSans: sans }));
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toEqual(
      explainJson(explain(table, backend, clientFromUris(sans)).decision),
    );
  });

  it('is 503 before a policy set is loaded', async () => {
    loaded = false;
    try {
      const answer = await call('GET', '/policies');
      expect(answer.status).toBe(503);
      expect(JSON.parse(answer.text)).toEqual({
        status: 503,
        title: 'Service Unavailable',
        detail: 'no policy set loaded',
      });
    } finally {
      loaded = true;
    }
  });
});

describe('POST /explain', () => {
  async function explainAnswer(fields: Record<string, unknown>) {
    const answer = await call('POST', '/explain', explainBody(fields));
    expect(answer.status, answer.text).toBe(200);
    expect(answer.headers['content-type']).toBe('application/json');
    return JSON.parse(answer.text);
  }

  it('answers like `mtp-authz explain` for a client given by its SANs', async () => {
    const sans = ['spiffe://default/orders', 'kuma://version/v3'];
    const body = await explainAnswer({ clientSans: sans });
    expect(body).toEqual(explainJson(explain(table, backend, clientFromUris(sans)).decision));
    expect(body).toEqual({
      action: 'Allow',
      via: 'rule',
      decidedBy: { policy: 'allow-orders', fromIndex: 0 },
      policies: ['deny-all', 'allow-orders'],
    });
  });

  it('answers for a client given by its PEM certificate', async () => {
    const cert = makeWorkloadCert({ uris: ['spiffe://default/web'] });
    const body = await explainAnswer({ clientCert: cert.pem });
    expect(body).toEqual(
      explainJson(explain(table, backend, clientFromUris(['spiffe://default/web'])).decision),
    );
    expect(body).toEqual({
      action: 'Deny',
      via: 'rule',
      decidedBy: { policy: 'deny-all', fromIndex: 0 },
      policies: ['deny-all', 'allow-orders'],
    });
  });

  it('answers invalid-identity for a certificate that does not parse', async () => {
    const body = await explainAnswer({
      clientCert: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
    });
    expect(body).toMatchObject({ action: 'Deny', via: 'invalid-identity', decidedBy: null });
  });

  it('answers invalid-identity, never plaintext, for SANs or a certificate without a SPIFFE ID', async () => {
    const legacy = { destinationMesh: 'legacy' };
    const invalid = { action: 'Deny', via: 'invalid-identity', decidedBy: null, policies: [] };
    expect(await explainAnswer({ ...legacy, clientSans: ['kuma://env/prod'] })).toEqual(invalid);
    expect(await explainAnswer({ ...legacy, clientSans: ['SPIFFE://legacy/orders'] })).toEqual(invalid);
    const noSpiffe = makeWorkloadCert({ uris: [], dnsNames: ['orders.local'] }).pem;
    expect(await explainAnswer({ ...legacy, clientCert: noSpiffe })).toEqual(invalid);
  });

  it('answers for a plaintext client when neither is given', async () => {
    expect(await explainAnswer({})).toEqual(explainJson(explain(table, backend, NO_CLIENT).decision));
    expect(await explainAnswer({})).toMatchObject({ action: 'Deny', via: 'no-identity' });
    expect(await explainAnswer({ clientSans: [] })).toMatchObject({ action: 'Deny', via: 'no-identity' });
    const legacy = await explainAnswer({ destinationMesh: 'legacy' });
    expect(legacy).toEqual({ action: 'Allow', via: 'permissive-plaintext', decidedBy: null, policies: [] });
  });

  it('takes the mesh `default` when destinationMesh is left out, as the CLI does', async () => {
    const answer = await call(
      'POST',
      '/explain',
      JSON.stringify({
        destinationTags: { 'kuma.io/service': 'backend' },
        clientSans: ['spiffe://default/orders'],
      }),
    );
    expect(JSON.parse(answer.text)).toMatchObject({ action: 'Allow', decidedBy: { policy: 'allow-orders' } });
  });

  const badRequests: [string, string, string][] = [
    ['not JSON', '{"destinationTags": ', 'request body is not valid JSON'],
    ['an empty body', '', 'request body is not valid JSON'],
    ['an array', '[]', 'request body must be a JSON object'],
    ['null', 'null', 'request body must be a JSON object'],
    [
      'an unknown field',
      explainBody({ clientSan: ['spiffe://default/orders'] }),
      'unknown field "clientSan": expected destinationMesh, destinationTags, clientSans, clientCert or sni',
    ],
    ['a numeric mesh', explainBody({ destinationMesh: 3 }), 'destinationMesh must be a string'],
    ['a numeric sni', explainBody({ sni: 443 }), 'sni must be a string'],
    ['an empty mesh', explainBody({ destinationMesh: '' }), 'destinationMesh must not be empty'],
    [
      'no tags',
      JSON.stringify({ destinationMesh: 'default' }),
      'destinationTags is required and must include "kuma.io/service"',
    ],
    [
      'tags as a string',
      explainBody({ destinationTags: 'kuma.io/service=backend' }),
      'destinationTags must be an object of tag names to values',
    ],
    [
      'a numeric tag value',
      explainBody({ destinationTags: { 'kuma.io/service': 'backend', port: 80 } }),
      'destinationTags["port"] must be a string',
    ],
    [
      'an empty tag value',
      explainBody({ destinationTags: { 'kuma.io/service': '' } }),
      'destinationTags["kuma.io/service"] must be non-empty',
    ],
    [
      'an empty tag name',
      explainBody({ destinationTags: { 'kuma.io/service': 'backend', '': 'x' } }),
      'destinationTags: tag name must be non-empty',
    ],
    [
      'no service tag',
      explainBody({ destinationTags: { app: 'backend' } }),
      'destinationTags must include "kuma.io/service"',
    ],
    [
      'SANs and a certificate',
      explainBody({ clientSans: ['spiffe://default/orders'], clientCert: 'PEM' }),
      'give the client as clientSans or clientCert, not both',
    ],
    [
      'SANs as a string',
      explainBody({ clientSans: 'spiffe://default/orders' }),
      'clientSans must be an array of URI strings',
    ],
    [
      'a numeric SAN',
      explainBody({ clientSans: ['spiffe://default/orders', 7] }),
      'clientSans[1] must be a string',
    ],
    [
      'a SAN that is not a URI',
      explainBody({ clientSans: ['spiffe://default/orders', 'orders'] }),
      'clientSans[1] must be a URI, such as spiffe://MESH/SERVICE',
    ],
    [
      'a certificate object',
      explainBody({ clientCert: { pem: 'x' } }),
      'clientCert must be a string holding a PEM certificate',
    ],
    [
      'an empty certificate',
      explainBody({ clientCert: '' }),
      'clientCert must not be empty: omit it for a plaintext client',
    ],
  ];
  it.each(badRequests)('answers 400 for %s', async (_what, body, detail) => {
    const answer = await call('POST', '/explain', body);
    expect(answer.status).toBe(400);
    expect(answer.headers['content-type']).toBe('application/json');
    expect(JSON.parse(answer.text)).toEqual({ status: 400, title: 'Bad Request', detail });
  });

  it('answers 400 for invalid UTF-8', async () => {
    const answer = await call('POST', '/explain', [
      '{"destinationTags": {"kuma.io/service": "',
      Buffer.from([0xc3, 0x28]),
      '"}}',
    ]);
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.text).detail).toBe('request body is not valid UTF-8');
  });

  it('answers 413 for a body over 1 MiB, declared or streamed', async () => {
    const detail = `request body is larger than ${MAX_EXPLAIN_BODY_BYTES} bytes`;
    const tooLarge = { status: 413, title: 'Payload Too Large', detail };
    expect(MAX_EXPLAIN_BODY_BYTES).toBe(1024 * 1024);
    const big = explainBody({ clientSans: ['x'.repeat(MAX_EXPLAIN_BODY_BYTES)] });
    const declared = await call('POST', '/explain', big);
    expect(declared.status).toBe(413);
    expect(declared.headers['content-type']).toBe('application/json');
    expect(JSON.parse(declared.text)).toEqual(tooLarge);

    const chunk = 'x'.repeat(64 * 1024);
    const streamed = await call(
      'POST',
      '/explain',
      Array.from({ length: 20 }, () => chunk),
    );
    expect(streamed.status).toBe(413);
    expect(JSON.parse(streamed.text)).toEqual(tooLarge);

    // Exactly 1 MiB is still read (and then judged on its content).
    const padded = explainBody({ destinationMesh: 'default' });
    const exact = `${padded}${' '.repeat(MAX_EXPLAIN_BODY_BYTES - Buffer.byteLength(padded))}`;
    const ok = await call('POST', '/explain', exact);
    expect(ok.status).toBe(200);
  });

  it('is 503 before a policy set is loaded', async () => {
    loaded = false;
    try {
      const answer = await call('POST', '/explain', explainBody({}));
      expect(answer.status).toBe(503);
      expect(JSON.parse(answer.text).detail).toBe('no policy set loaded');
    } finally {
      loaded = true;
    }
  });
});
