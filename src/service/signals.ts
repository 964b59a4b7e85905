/**
 * Shutdown timing shared by every kind of process: how much of `--shutdown-grace` calls in
 * flight get, the exit once logs are flushed, the exit no later than the grace, and the one
 * first-signal-drains / second-signal-forces handler.
 */
import { flushLog, type Logger } from '../observability/log.js';
import { flushStdout } from '../observability/stdout.js';

/** What is left for closing listeners and flushing logs after the calls in flight had their grace. */
const CLOSING_RESERVE_MS = 200;

/** The part of `--shutdown-grace` calls in flight may use; the rest is for closing and flushing. */
export function callGrace(graceMs: number): number {
  return Math.max(0, graceMs - Math.min(CLOSING_RESERVE_MS, graceMs / 4));
}

/**
 * Ends the process with `code` once the logs are flushed, waiting at most until `deadline`
 * (performance.now() time): a stderr or stdout nobody reads must not hold the exit.
 */
export async function exitAfterFlush(
  log: Logger,
  code: number,
  deadline = performance.now() + 1000,
): Promise<never> {
  const left = (): number => Math.max(20, deadline - performance.now());
  await flushLog(log, left());
  await flushStdout(left());
  process.exit(code);
}

/**
 * From the first SIGTERM/SIGINT: exit 0 no later than `--shutdown-grace`, whatever still runs
 * (idle streams, a loader thread, a stalled log).
 */
export function exitDeadline(graceMs: number): number {
  const deadline = performance.now() + graceMs;
  setTimeout(() => process.exit(0), graceMs).unref();
  return deadline;
}
