import { describe, expect, it } from 'vitest';
import { RecentDecisions, recordingDecisionLog } from '../../src/console/recent-decisions.js';
import type { Decision } from '../../src/decision/types.js';
import type { DecisionLog, DecisionLogEntry } from '../../src/observability/decision-log.js';
import { byRule, client, dest } from '../support/policies.js';

const decision = (action: Decision['action'], fromIndex = 0): Decision => byRule(action, 'p', fromIndex);
const entry = (action: Decision['action'], fromIndex = 0): DecisionLogEntry => ({
  decision: decision(action, fromIndex),
  destination: dest('backend'),
  client: client('web'),
});

describe('RecentDecisions', () => {
  it('keeps denies and shadow-denies, not allows, newest first, at most its capacity', () => {
    const recent = new RecentDecisions(2);
    recent.record(entry('Deny', 0), Date.UTC(2026, 0, 1));
    recent.record(entry('Allow', 1), Date.UTC(2026, 0, 2));
    recent.record(entry('AllowWithShadowDeny', 2), Date.UTC(2026, 0, 3));
    recent.record(entry('Deny', 3), Date.UTC(2026, 0, 4));
    expect(recent.recorded).toBe(3);
    expect(recent.lines()).toEqual([
      {
        time: '2026-01-04T00:00:00.000Z',
        decision: 'deny',
        via: 'rule',
        mesh: 'default',
        source: 'spiffe://default/web',
        destination: 'backend',
        policy: 'p',
        fromIndex: 3,
      },
      expect.objectContaining({ time: '2026-01-03T00:00:00.000Z', decision: 'shadow_deny', fromIndex: 2 }),
    ]);
  });

  it('keeps nothing at capacity 0', () => {
    const recent = new RecentDecisions(0);
    recent.record(entry('Deny'));
    expect(recent.lines()).toEqual([]);
    expect(recent.recorded).toBe(0);
  });

  it('feeds from the decision log without changing what the log is asked or given', () => {
    const given: DecisionLogEntry[] = [];
    const log: DecisionLog = {
      wants: (d) => d.action !== 'Allow',
      record: (e) => given.push(e),
      flush: () => {},
      close: async () => {},
    };
    const recent = new RecentDecisions(5);
    const recording = recordingDecisionLog(log, recent, () => 0);
    expect(recording.wants(decision('Allow'), false)).toBe(false);
    expect(recording.wants(decision('Deny'), false)).toBe(true);
    const denied = entry('Deny');
    recording.record(denied);
    expect(given).toEqual([denied]);
    expect(recent.lines()).toHaveLength(1);
  });
});
