/**
 * The operational log: JSON lines on stderr (start-up, listeners, reloads, errors). Decision and
 * audit lines go to stdout elsewhere (stdout.ts).
 *
 * Logging must never stall the event loop that answers Checks: a stderr nobody reads (a full
 * pipe) would otherwise block every write. So lines go to an asynchronous destination whose
 * buffer is bounded (lines past it are dropped and counted), and each message kind is
 * rate-limited (a flood of one warning cannot crowd out the rest); a summary line says what was
 * dropped. `flushLog` waits a bounded time for the buffer to drain before the process exits.
 */
import type { EventEmitter } from 'node:events';
import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const LOG_DROP_SUMMARY_MESSAGE = 'log lines dropped';

export interface LoggerOptions {
  /** Lines per second admitted per message kind (default 20), in bursts of up to `burst` (default 100). */
  readonly ratePerSecond?: number;
  readonly burst?: number;
  /** Buffer cap of the stderr destination, in bytes (default 1 MiB). */
  readonly maxBufferBytes?: number;
  /** At most one drop summary per interval (default 10 000 ms). */
  readonly summaryIntervalMs?: number;
}

/** Lines a logger did not write: over a kind's rate, or past a full buffer. */
export interface LogDrops {
  rateLimited: number;
  bufferFull: number;
}

interface LogControl {
  readonly drops: LogDrops;
  readonly destination: DestinationStream &
    Partial<EventEmitter> & { flush?(cb?: (err?: Error) => void): void };
}

const controls = new WeakMap<Logger, LogControl>();

/** The lines `log` dropped so far (zero for a logger this module did not create). */
export function logDrops(log: Logger): LogDrops {
  return controls.get(log)?.drops ?? { rateLimited: 0, bufferFull: 0 };
}

/**
 * Waits for the destination to have written what it holds, at most `timeoutMs`: a stderr nobody
 * reads must not keep a stopping process alive.
 */
export function flushLog(log: Logger, timeoutMs = 1000): Promise<void> {
  const destination = controls.get(log)?.destination;
  return destination === undefined ? Promise.resolve() : waitForDrain(destination, timeoutMs);
}

/** Resolves once an asynchronous sonic-boom has no write in progress and nothing buffered. */
export function waitForDrain(destination: unknown, timeoutMs: number): Promise<void> {
  const boom = destination as Partial<EventEmitter> & { _writing?: boolean; _len?: number };
  const idle = (): boolean => boom._writing !== true && (boom._len ?? 0) === 0;
  if (typeof boom.once !== 'function' || idle()) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      boom.off?.('drain', onDrain);
      resolve();
    };
    const onDrain = (): void => {
      if (idle()) done();
    };
    const timer = setTimeout(done, timeoutMs);
    timer.unref();
    boom.on?.('drain', onDrain);
  });
}

/** Per message kind: a token bucket, and how many lines it turned away since the last summary. */
class KindLimiter {
  readonly #rate: number;
  readonly #burst: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  #dropped = new Map<string, number>();

  constructor(rate: number, burst: number) {
    this.#rate = rate;
    this.#burst = burst;
  }

  admit(kind: string, now: number): boolean {
    let bucket = this.#buckets.get(kind);
    if (bucket === undefined) {
      // Kinds are the code's own messages; the cap only guards against a message built from input.
      if (this.#buckets.size >= 1000) this.#buckets.clear();
      bucket = { tokens: this.#burst, at: now };
      this.#buckets.set(kind, bucket);
    }
    bucket.tokens = Math.min(this.#burst, bucket.tokens + ((now - bucket.at) * this.#rate) / 1000);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return true;
    }
    this.#dropped.set(kind, (this.#dropped.get(kind) ?? 0) + 1);
    return false;
  }

  /** The drops since the last call, by kind (undefined when there were none). */
  take(): Record<string, number> | undefined {
    if (this.#dropped.size === 0) return undefined;
    const dropped = Object.fromEntries(this.#dropped);
    this.#dropped = new Map();
    return dropped;
  }
}

/** Counts the lines in what a bounded destination dropped. */
function linesIn(data: string | Buffer): number {
  const text = typeof data === 'string' ? data : data.toString('utf8');
  let lines = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines++;
  return Math.max(1, lines);
}

/**
 * `destination` is a file descriptor (default 2: stderr, asynchronous and bounded) or a stream
 * (tests). Message kinds are rate-limited either way.
 */
export function createLogger(
  level: LogLevel,
  destination: NodeJS.WritableStream | number = 2,
  options: LoggerOptions = {},
): Logger {
  const stream =
    typeof destination === 'number'
      ? pino.destination({
          dest: destination,
          sync: false,
          maxLength: options.maxBufferBytes ?? 1024 * 1024,
        })
      : (destination as unknown as DestinationStream);
  const control: LogControl = { drops: { rateLimited: 0, bufferFull: 0 }, destination: stream };
  const emitter = stream as Partial<EventEmitter>;
  if (typeof destination === 'number' && typeof emitter.on === 'function') {
    emitter.on('drop', (data: string | Buffer) => {
      control.drops.bufferFull += linesIn(data);
    });
    emitter.on('error', () => {});
    // pino flushes a destination synchronously when the process exits; on a pipe nobody reads
    // that blocks for ever. What flushLog did not get out by then is lost.
    (stream as { flushSync?: () => void }).flushSync = () => {};
  }
  const limiter = new KindLimiter(options.ratePerSecond ?? 20, options.burst ?? 100);
  const interval = options.summaryIntervalMs ?? 10_000;
  let summarizedAt = Date.now();
  // Called only once `logger` below exists (from its own hook, or the timer).
  const summarize = (now: number): void => {
    summarizedAt = now;
    const byMessage = limiter.take();
    if (byMessage !== undefined) logger.warn({ byMessage }, LOG_DROP_SUMMARY_MESSAGE);
  };
  const logger: Logger = pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      hooks: {
        logMethod(args, method) {
          const kind = typeof args[0] === 'string' ? args[0] : typeof args[1] === 'string' ? args[1] : '';
          const now = Date.now();
          if (kind !== LOG_DROP_SUMMARY_MESSAGE && now - summarizedAt >= interval) summarize(now);
          if (kind === LOG_DROP_SUMMARY_MESSAGE || limiter.admit(kind, now)) {
            method.apply(this, args);
            return;
          }
          control.drops.rateLimited++;
        },
      },
    },
    stream,
  );
  const timer = setInterval(() => summarize(Date.now()), interval);
  timer.unref();
  controls.set(logger, control);
  return logger;
}
