import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { invalidClient, NO_CLIENT } from '../../src/decision/identity.js';
import type { Decision } from '../../src/decision/types.js';
import {
  createDecisionLog,
  type DecisionLog,
  type DecisionLogEntry,
  type DecisionLogOptions,
  DROP_SUMMARY_MESSAGE,
  sourceSpiffeId,
} from '../../src/observability/decision-log.js';
import { byRule, client, dest } from '../support/policies.js';

const T0 = Date.parse('2026-03-01T12:00:00.000Z');

const DENY = byRule('Deny', 'deny-orders', 2, ['allow-all', 'deny-orders']);
const SHADOW_DENY = byRule('AllowWithShadowDeny', 'try-out', 0);
const ALLOW = byRule('Allow', 'allow-all', 0);

const denyEntry: DecisionLogEntry = {
  decision: DENY,
  destination: dest('backend', { version: 'v2' }, 'payments'),
  client: client('orders', {}, 'payments'),
  http: { method: 'POST', host: 'backend.mesh', path: '/api/charge?token=secret', requestId: 'req-1' },
};

/** An in-memory destination: one parsed object per line. */
function memory() {
  const lines: Record<string, unknown>[] = [];
  return { lines, stream: { write: (line: string) => void lines.push(JSON.parse(line)) } };
}

const logs: DecisionLog[] = [];
afterEach(async () => {
  await Promise.all(logs.splice(0).map((log) => log.close()));
});

function setup(options: DecisionLogOptions = {}) {
  const out = memory();
  // Offset kept apart from the epoch, so microsecond steps do not drown in rounding.
  let offset = 0;
  const log = createDecisionLog({
    destination: out.stream,
    now: () => T0 + offset,
    timer: false,
    ...options,
  });
  logs.push(log);
  return {
    log,
    lines: out.lines,
    advance: (ms: number) => {
      offset += ms;
    },
  };
}

describe('decision log lines', () => {
  it('logs a deny with every field of SPEC §6.3 (the query string left out)', () => {
    const { log, lines } = setup();
    log.record(denyEntry);
    expect(lines).toEqual([
      {
        time: '2026-03-01T12:00:00.000Z',
        decision: 'deny',
        via: 'rule',
        mesh: 'payments',
        source: 'spiffe://payments/orders',
        destination: 'backend',
        policy: 'deny-orders',
        fromIndex: 2,
        method: 'POST',
        host: 'backend.mesh',
        path: '/api/charge',
        requestId: 'req-1',
        msg: 'decision',
      },
    ]);
  });

  it('names the rule of a spec.rules policy that decided: fromIndex null, ruleIndex set', () => {
    const { log, lines } = setup();
    const ruleDecision: Decision = {
      action: 'Deny',
      via: 'rule',
      decidedBy: {
        policy: 'backend',
        ruleIndex: 1,
        match: { list: 'deny', index: 0, spiffeID: { type: 'Exact', value: 'spiffe://payments/orders' } },
      },
      policies: ['backend'],
    };
    log.record({ ...denyEntry, decision: ruleDecision });
    expect(lines[0]).toMatchObject({ policy: 'backend', fromIndex: null, ruleIndex: 1 });
  });

  it('logs a shadow-deny as decision shadow_deny, with the policy whose entry decided', () => {
    const { log, lines } = setup();
    log.record({ ...denyEntry, decision: SHADOW_DENY, http: undefined });
    expect(lines).toEqual([
      {
        time: '2026-03-01T12:00:00.000Z',
        decision: 'shadow_deny',
        via: 'rule',
        mesh: 'payments',
        source: 'spiffe://payments/orders',
        destination: 'backend',
        policy: 'try-out',
        fromIndex: 0,
        msg: 'decision',
      },
    ]);
  });

  it('writes null for what a deny without a deciding entry, identity or destination lacks', () => {
    const { log, lines } = setup();
    log.record({
      decision: { action: 'Deny', via: 'no-destination', decidedBy: null, policies: [] },
      destination: undefined,
      client: NO_CLIENT,
      http: { method: 'GET', host: 'x', path: '/', requestId: undefined },
    });
    expect(lines[0]).toMatchObject({
      decision: 'deny',
      via: 'no-destination',
      mesh: null,
      source: null,
      destination: null,
      policy: null,
      fromIndex: null,
      requestId: null,
    });
  });

  it('does not log allows unless logAllowed', () => {
    const quiet = setup();
    expect(quiet.log.wants(ALLOW, false)).toBe(false);
    quiet.log.record({ ...denyEntry, decision: ALLOW });
    expect(quiet.lines).toEqual([]);

    const verbose = setup({ logAllowed: true });
    expect(verbose.log.wants(ALLOW, false)).toBe(true);
    verbose.log.record({ ...denyEntry, decision: ALLOW });
    expect(verbose.lines).toHaveLength(1);
    expect(verbose.lines[0]).toMatchObject({ decision: 'allow', policy: 'allow-all' });
  });

  it('logs an allow whose shadow answer differs, with the shadow decision', () => {
    const { log, lines } = setup();
    expect(log.wants(ALLOW, true)).toBe(true);
    log.record({
      ...denyEntry,
      decision: ALLOW,
      shadow: { outcome: 'would_deny', action: 'Deny', via: 'rule', policy: 'try-deny', fromIndex: 1 },
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      decision: 'allow',
      policy: 'allow-all',
      shadow: { outcome: 'would_deny', action: 'Deny', via: 'rule', policy: 'try-deny', fromIndex: 1 },
    });
  });

  it('names every SPIFFE ID of a client with several services, and none for an invalid one', () => {
    expect(sourceSpiffeId(client(['web', 'admin']))).toBe('spiffe://default/web,spiffe://default/admin');
    expect(sourceSpiffeId(invalidClient('bad certificate'))).toBeNull();
    expect(sourceSpiffeId(NO_CLIENT)).toBeNull();
  });

  it('clips very long request fields', () => {
    const { log, lines } = setup();
    log.record({
      ...denyEntry,
      http: { method: 'GET', host: 'h', path: `/${'a'.repeat(10_000)}`, requestId: 'r' },
    });
    expect(String(lines[0]?.path).length).toBe(2049);
  });
});

describe('under a flood', () => {
  it('100 000 denies in 100 ms give burst + rate × time lines and one drop summary', () => {
    const { log, lines, advance } = setup({ ratePerSecond: 1000, burst: 2000 });
    for (let i = 0; i < 100_000; i++) {
      log.record(i % 10 === 0 ? { ...denyEntry, decision: SHADOW_DENY } : denyEntry);
      advance(0.001);
    }
    log.flush();
    const decisions = lines.filter((l) => l.msg === 'decision');
    const summaries = lines.filter((l) => l.msg === DROP_SUMMARY_MESSAGE);
    // 2000 at once, then one per millisecond for 100 ms.
    expect(decisions.length).toBeGreaterThanOrEqual(2099);
    expect(decisions.length).toBeLessThanOrEqual(2100);
    expect(summaries).toHaveLength(1);
    const summary = summaries[0] as { dropped: number; byDecision: Record<string, number> };
    expect(summary.dropped).toBe(100_000 - decisions.length);
    const logged = { deny: 0, shadow_deny: 0 } as Record<string, number>;
    for (const line of decisions)
      logged[line.decision as string] = (logged[line.decision as string] ?? 0) + 1;
    expect(summary.byDecision).toEqual({
      deny: 90_000 - (logged.deny ?? 0),
      shadow_deny: 10_000 - (logged.shadow_deny ?? 0),
    });
  });

  it('a sustained flood writes at the configured rate with one summary per interval', () => {
    const { log, lines, advance } = setup({ ratePerSecond: 100, burst: 10, summaryIntervalMs: 10_000 });
    // 100 000 denies over 100 s of (simulated) time.
    for (let i = 0; i < 100_000; i++) {
      log.record(denyEntry);
      advance(1);
    }
    log.flush();
    const decisions = lines.filter((l) => l.msg === 'decision');
    const summaries = lines.filter((l) => l.msg === DROP_SUMMARY_MESSAGE) as unknown as { dropped: number }[];
    expect(decisions.length).toBeGreaterThanOrEqual(10 + 100 * 100 - 1);
    expect(decisions.length).toBeLessThanOrEqual(10 + 100 * 100);
    expect(summaries).toHaveLength(10);
    expect(summaries.reduce((sum, s) => sum + s.dropped, 0)).toBe(100_000 - decisions.length);
    // Each full interval drops what exceeds 100 lines/s × 10 s.
    expect(summaries[1]?.dropped).toBe(10_000 - 1_000);
  });

  it('reports drops from a timer when the flood has stopped', async () => {
    let now = T0;
    const out = memory();
    const log = createDecisionLog({
      destination: out.stream,
      now: () => now,
      ratePerSecond: 1,
      burst: 1,
      summaryIntervalMs: 20,
    });
    logs.push(log);
    for (let i = 0; i < 5; i++) log.record(denyEntry);
    now += 20;
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(out.lines.filter((l) => l.msg === DROP_SUMMARY_MESSAGE)).toEqual([
      { time: new Date(now).toISOString(), dropped: 4, byDecision: { deny: 4 }, msg: DROP_SUMMARY_MESSAGE },
    ]);
  });

  it('never buffers more than maxBufferBytes when stdout does not keep up: the rest is dropped and reported', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtp-authz-decision-log-'));
    const fifo = join(dir, 'stdout');
    execFileSync('mkfifo', [fifo]);
    // A pipe nobody reads yet: it takes 64 KiB, then every write would block.
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    try {
      const sample = setup();
      sample.log.record(denyEntry);
      const lineBytes = Buffer.byteLength(`${JSON.stringify(sample.lines[0])}\n`);

      const maxBufferBytes = 256 * 1024;
      const log = createDecisionLog({
        fd: writer,
        maxBufferBytes,
        ratePerSecond: 1e9,
        burst: 1e9,
        now: () => T0,
        timer: false,
      });
      const count = 50_000;
      for (let i = 0; i < count; i++) log.record(denyEntry);
      const attempted = count * lineBytes;

      // Read until the writer has nothing left (it retries a full pipe every 100 ms).
      const read = readAvailable(reader);
      let delivered = '';
      for (let quiet = 0; quiet < 5;) {
        const chunk = read();
        delivered += chunk;
        quiet = chunk === '' ? quiet + 1 : 0;
        await sleep(100);
      }
      log.flush();
      let tail = '';
      for (let i = 0; i < 50 && !tail.endsWith('\n'); i++) {
        await sleep(20);
        tail += read();
      }

      expect(attempted).toBeGreaterThan(10 * 1024 * 1024);
      // Only what fitted in the pipe and the capped buffer arrived, as whole lines.
      expect(Buffer.byteLength(delivered)).toBeLessThanOrEqual(maxBufferBytes + 128 * 1024);
      expect(Buffer.byteLength(delivered) % lineBytes).toBe(0);
      // Everything else was dropped, not kept, and the summary says so.
      expect(JSON.parse(tail)).toEqual({
        time: new Date(T0).toISOString(),
        dropped: 0,
        byDecision: {},
        outputDroppedBytes: attempted - Buffer.byteLength(delivered),
        msg: DROP_SUMMARY_MESSAGE,
      });
      await log.close(); // closes the writer end
    } finally {
      closeSync(reader);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Non-blocking reads of whatever the pipe holds now. */
function readAvailable(fd: number): () => string {
  const buffer = Buffer.alloc(1 << 16);
  return () => {
    let text = '';
    for (;;) {
      let n = 0;
      try {
        n = readSync(fd, buffer);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return text;
        throw error;
      }
      if (n === 0) return text;
      text += buffer.toString('utf8', 0, n);
    }
  };
}
