/**
 * The operational log: each message kind is rate-limited, what is refused is counted and
 * summarized, and the summary itself is never refused.
 */
import { describe, expect, it } from 'vitest';
import { createLogger, LOG_DROP_SUMMARY_MESSAGE, logDrops } from '../../src/observability/log.js';
import { logSink } from '../support/log-sink.js';

describe('createLogger', () => {
  it('admits a burst per message kind, counts the rest, and summarizes them by kind', async () => {
    const { lines, stream } = logSink();
    const log = createLogger('info', stream, { ratePerSecond: 1, burst: 5, summaryIntervalMs: 50 });
    for (let i = 0; i < 200; i++) log.info({ i }, 'admin request not authenticated');
    log.warn('policy reload failed'); // another kind still gets through
    expect(logDrops(log)).toEqual({ rateLimited: 195, bufferFull: 0 });
    await new Promise((r) => setTimeout(r, 80));
    log.info('admin request not authenticated'); // the next line of a kind triggers the summary
    const messages = lines.map((l) => l.msg);
    expect(messages.filter((m) => m === 'admin request not authenticated').length).toBeLessThanOrEqual(6);
    expect(messages).toContain('policy reload failed');
    expect(lines.find((l) => l.msg === LOG_DROP_SUMMARY_MESSAGE)).toMatchObject({
      level: 40,
      byMessage: { 'admin request not authenticated': 195 },
    });
  });
});
