/**
 * Shutdown timing shared by every kind of process: how much of `--shutdown-grace` calls in
 * flight get, the exit once logs are flushed, the exit no later than the grace, and the one
 * first-signal-drains / second-signal-forces handler. The process itself is passed in (a
 * ProcessPort): service/ never reaches for `process` events or exits on its own.
 */
import { flushLog, type Logger } from '../observability/log.js';
import { flushStdout } from '../observability/stdout.js';
import { StartError } from './open.js';

/** The part of the running process the service listens to, talks through and ends: `process`. */
export type ProcessPort = Pick<NodeJS.Process, 'on' | 'off' | 'exit' | 'send' | 'connected'>;

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
  port: ProcessPort,
  log: Logger,
  code: number,
  deadline = performance.now() + 1000,
): Promise<never> {
  const left = (): number => Math.max(20, deadline - performance.now());
  await flushLog(log, left());
  await flushStdout(left());
  port.exit(code);
}

/** Runs `start`; a StartError is logged and exits the process with its code once the logs are out. */
export async function startOrExit<T>(port: ProcessPort, log: Logger, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (error) {
    if (!(error instanceof StartError)) throw error;
    log.error(error.message);
    return exitAfterFlush(port, log, error.exitCode);
  }
}

/**
 * From the first SIGTERM/SIGINT: exit 0 no later than `--shutdown-grace`, whatever still runs
 * (idle streams, a loader thread, a stalled log).
 */
export function exitDeadline(port: ProcessPort, graceMs: number): number {
  const deadline = performance.now() + graceMs;
  setTimeout(() => port.exit(0), graceMs).unref();
  return deadline;
}

export interface SignalHandlers {
  /** The first SIGTERM/SIGINT: drain. */
  readonly drain: (signal: NodeJS.Signals) => Promise<void>;
  /** Every later one while the drain runs: stop waiting for it. */
  readonly force: (signal: NodeJS.Signals) => void;
  /** Stop listening once drained (a later signal then takes its default action). */
  readonly release: boolean;
}

/**
 * First signal drains, a second forces: resolves once the drain has finished. Each process kind
 * says what draining and forcing mean; the counting is here only.
 */
export function drainOnSignals(port: ProcessPort, handlers: SignalHandlers): Promise<void> {
  return new Promise((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (++signals > 1) {
        handlers.force(signal);
        return;
      }
      void handlers.drain(signal).then(() => {
        if (handlers.release) {
          port.off('SIGTERM', onSignal);
          port.off('SIGINT', onSignal);
        }
        resolve();
      });
    };
    port.on('SIGTERM', onSignal);
    port.on('SIGINT', onSignal);
  });
}
