/**
 * CPU priority for tests that hold the service to a latency bound while something attacks it. On
 * a machine of few cores shared with other work, what such a test measures must be the service's
 * own isolation, not the machine's load: the service and the measuring process take a higher
 * priority where that is permitted (every thread at the normal priority, the collector's helpers
 * too), the attacking process the lowest — it would be on another machine. Where changing
 * priorities is not permitted, everything keeps the normal priority.
 */
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

const RAISED = -10;
const LOWEST = 19;

function eachThread(pid: number, change: (tid: number) => void): void {
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) change(Number(tid));
  } catch {
    // Not Linux, not permitted, or the process has gone: priorities stay as they are.
  }
}

/** Every thread of `pid` at the normal priority gets a higher one. */
export function raisePriority(pid: number | undefined): void {
  if (pid === undefined) return;
  eachThread(pid, (tid) => {
    if (getPriority(tid) === 0) setPriority(tid, RAISED);
  });
}

/** Undoes raisePriority for the threads still there. */
export function restorePriority(pid: number): void {
  eachThread(pid, (tid) => {
    if (getPriority(tid) === RAISED) setPriority(tid, 0);
  });
}

/** The attacker's process (all its threads start from its main thread's priority). */
export function lowestPriority(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    setPriority(pid, LOWEST);
  } catch {
    // Not permitted: the normal priority.
  }
}
