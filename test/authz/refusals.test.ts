/**
 * Refused Checks are counted by why they were refused, whoever refused them: the handler
 * (malformed, no policy set) or the transport (oversized, broken framing, a method this server
 * does not implement). A good Check counts nothing.
 */
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientFromCertificate } from '../../src/authz/certificate.js';
import { type GrpcService, startGrpcServer } from '../../src/authz/server.js';
import { cachedCertificateReader } from '../../src/decision/cache.js';
import { createLogger } from '../../src/observability/log.js';
import {
  CHECK_ERROR_CODES,
  createMetrics,
  METRIC_NAMES,
  type Metrics,
} from '../../src/observability/metrics.js';
import { ServiceState } from '../../src/authz/state.js';
import { mtp, policySet, service } from '../support/policies.js';
import { connect, grpcError, type TestClient } from './wire.js';
import { servingState } from '../support/state.js';

const SET = policySet([mtp('allow-web', service('backend'), [[service('web'), 'Allow']])]);
const MAX_REQUEST_BYTES = 4096;

async function serve(state: ServiceState, metrics: Metrics): Promise<GrpcService> {
  return startGrpcServer(state, {
    address: { kind: 'tcp', host: '127.0.0.1', port: 0 },
    maxRequestBytes: MAX_REQUEST_BYTES,
    readCertificate: cachedCertificateReader(clientFromCertificate, 0).read,
    observers: { metrics },
    log: createLogger('silent'),
  });
}

async function checkErrors(metrics: Metrics): Promise<Record<string, number>> {
  const metric = await metrics.registry.getSingleMetric(METRIC_NAMES.checkErrors)?.get();
  return Object.fromEntries((metric?.values ?? []).map((v) => [String(v.labels.code), v.value]));
}

const zero = Object.fromEntries(CHECK_ERROR_CODES.map((code) => [code, 0]));

describe('mtp_authz_check_errors_total', () => {
  let metrics: Metrics;
  let server: GrpcService;
  let client: TestClient;
  beforeAll(async () => {
    metrics = createMetrics(new Registry(), { defaultMetrics: false });
    server = await serve(servingState(SET), metrics);
    client = connect(server.target);
  });
  afterAll(async () => {
    client.close();
    await server.shutdown(1000);
  });

  it('starts at zero for every code, and a good Check counts nothing', async () => {
    await client.check({ destination: { principal: 'spiffe://default/backend' } });
    expect(await checkErrors(metrics)).toEqual(zero);
  });

  it('counts malformed, oversized and unimplemented calls by code', async () => {
    const malformed = await grpcError(client.checkRaw(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])));
    expect(malformed.code).toBe(grpc.status.INVALID_ARGUMENT);
    const oversized = await grpcError(client.checkRaw(Buffer.alloc(MAX_REQUEST_BYTES + 1)));
    expect(oversized.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    const passthrough = (b: Buffer): Buffer => b;
    for (let i = 0; i < 2; i++) {
      const unimplemented = await grpcError(
        new Promise((resolve, reject) =>
          client.raw.makeUnaryRequest(
            '/envoy.service.auth.v2.Authorization/Check',
            passthrough,
            passthrough,
            Buffer.alloc(0),
            (error, value) => (error ? reject(error) : resolve(value)),
          ),
        ),
      );
      expect(unimplemented.code).toBe(grpc.status.UNIMPLEMENTED);
    }
    expect(await checkErrors(metrics)).toEqual({ ...zero, malformed: 1, oversized: 1, unimplemented: 2 });
  });
});

describe('broken gRPC framing on Check', () => {
  it('counts malformed, and a broken frame on another method counts nothing', async () => {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false });
    const server = await serve(new ServiceState(undefined), metrics);
    const session = http2.connect(`http://${server.target}`);
    const send = (path: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const stream = session.request({
          ':method': 'POST',
          ':path': path,
          'content-type': 'application/grpc',
        });
        stream.on('response', (headers) => resolve(String(headers['grpc-status'])));
        stream.on('error', reject);
        stream.resume();
        stream.end(Buffer.from([0, 0, 0])); // a truncated frame prefix
      });
    try {
      expect(await send('/envoy.service.auth.v3.Authorization/Check')).toBe(String(grpc.status.INTERNAL));
      expect(await send('/grpc.health.v1.Health/Check')).toBe(String(grpc.status.INTERNAL));
      expect(await checkErrors(metrics)).toEqual({ ...zero, malformed: 1 });
    } finally {
      session.close();
      await server.shutdown(1000);
    }
  });
});

describe('no policy set loaded', () => {
  it('counts unavailable', async () => {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false });
    const server = await serve(new ServiceState(undefined), metrics);
    const client = connect(server.target);
    try {
      const refused = await grpcError(
        client.check({ destination: { principal: 'spiffe://default/backend' } }),
      );
      expect(refused.code).toBe(grpc.status.UNAVAILABLE);
      expect(await checkErrors(metrics)).toEqual({ ...zero, unavailable: 1 });
    } finally {
      client.close();
      await server.shutdown(1000);
    }
  });
});
