/**
 * The Reloader on its own, with a scripted loader: a load whose files changed while being read
 * is counted, logged and read again; nothing runs after stop(); only new warnings are logged.
 */
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/log.js';
import { compileTables } from '../../src/policy/compile.js';
import type { LoadResult } from '../../src/policy/load.js';
import type { PolicyIssue, PolicySet } from '../../src/policy/types.js';
import { Reloader } from '../../src/policy/reload.js';
import { policySet } from '../support/policies.js';
import { logSink } from '../support/log-sink.js';
import { servingState } from '../support/state.js';

const warning = (message: string): PolicyIssue => ({
  file: 'a.yaml',
  line: 1,
  col: 1,
  path: 'spec.x',
  message,
});

function setup(results: LoadResult[], initial: PolicySet = policySet([])) {
  const state = servingState(initial);
  const { lines, stream } = logSink();
  const changed: string[][] = [];
  let loads = 0;
  const reloader = new Reloader({
    paths: [],
    state,
    log: createLogger('info', stream),
    load: async () => {
      loads++;
      const next = results.shift();
      if (next === undefined) throw new Error('no more scripted loads');
      return next;
    },
    compile: compileTables,
    resyncIntervalMs: 0,
    onChangedWhileReading: (files) => changed.push([...files]),
  });
  return { state, lines, changed, reloader, loads: () => loads };
}

const ok = (set: PolicySet): LoadResult => ({ ok: true, set, files: ['a.yaml'] });

describe('Reloader', () => {
  it('reads again when a file changed while it was read, counting and logging each time', async () => {
    const moved: LoadResult = {
      ok: false,
      errors: [{ file: 'a.yaml', line: 1, col: 1, path: 'file', message: 'file changed while reading' }],
      warnings: [],
      files: ['a.yaml'],
      changedWhileReading: ['a.yaml'],
    };
    const { state, lines, changed, reloader, loads } = setup([moved, moved, ok(policySet([]))]);
    await reloader.start();
    const outcome = await reloader.reload('test');
    expect(outcome).toMatchObject({ ok: true, generation: 2 });
    expect(loads()).toBe(3);
    expect(changed).toEqual([['a.yaml'], ['a.yaml']]);
    expect(lines.filter((l) => l.msg === 'file changed while reading').map((l) => l.attempt)).toEqual([1, 2]);
    expect(state.current?.generation).toBe(2);
    expect(reloader.stale).toBe(false);
    reloader.stop();
  });

  it('after stop(), a reload resolves at once as stopped and loads nothing', async () => {
    const { reloader, loads, state } = setup([ok(policySet([]))]);
    await reloader.start();
    reloader.stop();
    expect(reloader.stopped).toBe(true);
    expect(await reloader.reload('late')).toEqual({ ok: false, errors: [], durationMs: 0, stopped: true });
    expect(loads()).toBe(0);
    expect(state.current?.generation).toBe(1);
  });

  it('logs only the warnings no earlier load logged', async () => {
    const first = { ...policySet([]), warnings: [warning('old')] };
    const both = { ...policySet([]), warnings: [warning('old'), warning('new')] };
    const { lines, reloader } = setup([ok(first), ok(both), ok(first), ok(both)], first);
    await reloader.start();
    const logged = () => lines.filter((l) => l.msg === 'policy warning').map((l) => l.warning);
    await reloader.reload('same');
    expect(logged()).toEqual([]);
    await reloader.reload('one more');
    expect(logged()).toEqual(['a.yaml:1:1: spec.x: new']);
    await reloader.reload('gone');
    await reloader.reload('back');
    expect(logged()).toEqual(['a.yaml:1:1: spec.x: new', 'a.yaml:1:1: spec.x: new']);
    reloader.stop();
  });
});
