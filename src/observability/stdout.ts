/**
 * stdout, where decision and audit lines go (SPEC §6.3, §7.4): one asynchronous destination for
 * both, so their lines never interleave, with a bounded buffer, so a stdout nobody reads drops
 * lines (counted) instead of blocking the event loop or growing memory.
 */
import type { EventEmitter } from 'node:events';
import { type DestinationStream, pino } from 'pino';
import { waitForDrain } from './log.js';

export const STDOUT_BUFFER_BYTES = 1024 * 1024;

export type StdoutDestination = DestinationStream &
  EventEmitter & { flush(cb?: (err?: Error) => void): void; flushSync(): void };

let shared: StdoutDestination | undefined;
let droppedLines = 0;

/** The process's stdout destination, created on first use. */
export function stdoutDestination(): StdoutDestination {
  if (shared !== undefined) return shared;
  const destination = pino.destination({
    dest: 1,
    sync: false,
    maxLength: STDOUT_BUFFER_BYTES,
  }) as unknown as StdoutDestination;
  destination.on('drop', (data: string | Buffer) => {
    const text = typeof data === 'string' ? data : data.toString('utf8');
    droppedLines += Math.max(1, text.split('\n').length - 1);
  });
  // A closed stdout (EPIPE) loses these lines, never the process.
  destination.on('error', () => {});
  // pino flushes synchronously at exit, which blocks for ever on a pipe nobody reads.
  destination.flushSync = () => {};
  shared = destination;
  return destination;
}

/** Lines the stdout destination dropped because its buffer was full. */
export function stdoutDroppedLines(): number {
  return droppedLines;
}

/** Waits (at most `timeoutMs`) for what stdout holds to be written. */
export function flushStdout(timeoutMs = 1000): Promise<void> {
  return shared === undefined ? Promise.resolve() : waitForDrain(shared, timeoutMs);
}
