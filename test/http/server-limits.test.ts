/**
 * The HTTP port's protective limits, on a real socket: a connection over the cap is closed as
 * soon as it is accepted, a client trickling its headers is cut by the headers timeout, and an
 * idle keep-alive connection by the keep-alive timeout.
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_HTTP_LIMITS,
  type HttpLimits,
  type HttpService,
  startHttpServer,
} from '../../src/http/server.js';
import { ServiceState } from '../../src/authz/state.js';

let server: HttpService | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await server?.close();
  server = undefined;
});

async function start(limits: Partial<HttpLimits>, onDropped?: (count: number) => void): Promise<number> {
  server = await startHttpServer(
    new ServiceState(),
    { host: '127.0.0.1', port: 0 },
    [],
    undefined,
    undefined,
    { ...DEFAULT_HTTP_LIMITS, ...limits },
    onDropped,
  );
  return server.port;
}

/** An open socket, with everything it received and a promise of its close. */
async function open(port: number) {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now())));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, closed, text: () => Buffer.concat(received).toString('latin1') };
}

const noLaterThan = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([
    promise,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)),
  ]);

describe('HTTP listener limits', () => {
  it('closes a connection over --http-max-connections at once, without an answer, and reports it', async () => {
    const drops: number[] = [];
    const port = await start({ maxConnections: 2 }, (count) => drops.push(count));
    expect(server?.maxConnections).toBe(2);
    const held = [await open(port), await open(port)];
    held[0]?.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await noLaterThan(
      new Promise<void>((resolve) => held[0]?.socket.once('data', () => resolve())),
      5000,
      'answer within the cap',
    );
    const third = await open(port);
    await noLaterThan(third.closed, 5000, 'the connection over the cap is closed');
    expect(third.text()).toBe('');
    expect(drops).toEqual([1]);
    expect(held[0]?.text()).toMatch(/^HTTP\/1\.1 200 OK/);
  });

  it('cuts a client trickling its headers once the headers timeout has passed', async () => {
    const port = await start({ headersTimeoutMs: 300, requestTimeoutMs: 300 });
    const slow = await open(port);
    const started = performance.now();
    slow.socket.write('GET /healthz HTTP/1.1\r\n');
    const timer = setInterval(() => slow.socket.write('X-a: b\r\n'), 100);
    try {
      const closedAt = await noLaterThan(slow.closed, 10_000, 'the slow client is cut');
      expect(closedAt - started).toBeGreaterThanOrEqual(250);
    } finally {
      clearInterval(timer);
    }
    expect(slow.text()).toMatch(/^HTTP\/1\.1 408 Request Timeout/);
  });

  it('closes an idle keep-alive connection after the keep-alive timeout', async () => {
    const port = await start({ keepAliveTimeoutMs: 1000 });
    const client = await open(port);
    const sent = performance.now();
    client.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    const closedAt = await noLaterThan(client.closed, 10_000, 'the idle connection is closed');
    expect(closedAt - sent).toBeGreaterThanOrEqual(900);
    expect(client.text()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(client.text()).toContain('Keep-Alive: timeout=1\r\n');
  });
});
