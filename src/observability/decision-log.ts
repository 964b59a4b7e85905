/**
 * The decision log (SPEC §6.3): one JSON line on stdout per deny and shadow-deny (per allow too with
 * `logAllowed`), and per request whose shadow answer differs (§6.4).
 *
 * Under a flood it neither falls behind nor grows: a token bucket admits `ratePerSecond` lines
 * (bursts up to `burst`), the rest are only counted, and once per `summaryIntervalMs` a line says
 * how many were dropped and of which decision. The default output is an asynchronous sonic-boom on
 * fd 1 whose buffer is capped at `maxBufferBytes`: a stdout that cannot keep up loses lines (counted
 * in the summary as `outputDroppedBytes`) instead of holding them in memory.
 */
import { ruleIndexOf } from '../decision/rules.js';
import type { EventEmitter } from 'node:events';
import { type DestinationStream, type Logger, pino } from 'pino';
import type { Client, Decision, Destination } from '../decision/types.js';
import { type DecisionLabel, decisionLabel } from './metrics.js';
import { SERVICE_TAG } from '../decision/types.js';
import type { ShadowDifference } from '../decision/shadow.js';
import { stdoutDestination } from './stdout.js';

/** The request line of an HTTP check (absent for TCP). */
export interface HttpRequestInfo {
  readonly method: string;
  readonly host: string;
  /** The query string is not logged: it may carry secrets, and no decision depends on it. */
  readonly path: string;
  /** The `x-request-id` header; undefined when the request had none. */
  readonly requestId: string | undefined;
}

export interface DecisionLogEntry {
  /** The enforced decision. */
  readonly decision: Decision;
  readonly destination: Destination | undefined;
  readonly client: Client;
  readonly http?: HttpRequestInfo | undefined;
  /** Set when the shadow evaluation disagrees (see shadow.ts compareShadow). */
  readonly shadow?: ShadowDifference | null | undefined;
}

export interface DecisionLogOptions {
  /** Log allows too (`--log-allowed`); default false. */
  readonly logAllowed?: boolean;
  /** Lines per second admitted on average (default 1000). */
  readonly ratePerSecond?: number;
  /** Lines admitted at once after a quiet period (default 2 × ratePerSecond). */
  readonly burst?: number;
  /** At most one drop summary per interval (default 10 000 ms). */
  readonly summaryIntervalMs?: number;
  /** Where lines go; default an async, bounded sonic-boom on stdout. */
  readonly destination?: DestinationStream;
  /** File descriptor of the default destination (default 1, stdout). */
  readonly fd?: number;
  /** Buffer cap of the default destination, in bytes (default 1 MiB). */
  readonly maxBufferBytes?: number;
  /** Milliseconds since the epoch; drives the time field, the token bucket and summaries. */
  readonly now?: () => number;
  /** Emit summaries from a timer too, so a flood that stops is still reported (default true). */
  readonly timer?: boolean;
}

export interface DecisionLog {
  /** True when record() would consider this request (saves building an entry for plain allows). */
  wants(decision: Decision, shadowDiffers: boolean): boolean;
  record(entry: DecisionLogEntry): void;
  /** Writes a pending drop summary now and asks the destination to flush. */
  flush(): void;
  /** Flushes and stops the timer; resolves once the destination has written (at most 1 s). */
  close(): Promise<void>;
}

export const DROP_SUMMARY_MESSAGE = 'decision log lines dropped';
const MAX_FIELD_CHARS = 2048;

export function createDecisionLog(options: DecisionLogOptions = {}): DecisionLog {
  return new RateLimitedDecisionLog(options);
}

class RateLimitedDecisionLog implements DecisionLog {
  readonly #logAllowed: boolean;
  readonly #rate: number;
  readonly #burst: number;
  readonly #interval: number;
  readonly #now: () => number;
  readonly #destination: DestinationStream;
  readonly #ownsDestination: boolean;
  readonly #logger: Logger;
  readonly #timer: NodeJS.Timeout | undefined;

  #tokens: number;
  #refilledAt: number;
  #windowStart: number;
  #dropped = 0;
  #droppedBy: Partial<Record<DecisionLabel, number>> = {};
  #outputDroppedBytes = 0;
  #closed = false;

  constructor(options: DecisionLogOptions) {
    this.#logAllowed = options.logAllowed ?? false;
    this.#rate = options.ratePerSecond ?? 1000;
    this.#burst = options.burst ?? 2 * this.#rate;
    this.#interval = options.summaryIntervalMs ?? 10_000;
    this.#now = options.now ?? Date.now;
    this.#tokens = this.#burst;
    this.#refilledAt = this.#now();
    this.#windowStart = this.#refilledAt;

    // stdout itself is shared with the audit lines (stdout.ts); another fd is this log's own.
    this.#ownsDestination = options.destination === undefined && options.fd !== undefined;
    this.#destination =
      options.destination ??
      (options.fd === undefined
        ? stdoutDestination()
        : pino.destination({
            dest: options.fd,
            sync: false,
            maxLength: options.maxBufferBytes ?? 1024 * 1024,
          }));
    const emitter = this.#destination as Partial<EventEmitter>;
    if (typeof emitter.on === 'function') {
      emitter.on('drop', (data: string | Buffer) => {
        this.#outputDroppedBytes += Buffer.byteLength(data);
      });
      // A closed stdout (EPIPE) loses the decision log, never the process.
      emitter.on('error', () => {});
    }
    const now = this.#now;
    this.#logger = pino(
      {
        base: null,
        // No level field: the line starts `{` and the time comes first, so no leading comma here.
        formatters: { level: () => ({}) },
        timestamp: () => `"time":"${new Date(now()).toISOString()}"`,
      },
      this.#destination,
    );
    if (options.timer ?? true) {
      this.#timer = setInterval(() => this.#summarizeIfDue(), this.#interval);
      this.#timer.unref();
    }
  }

  wants(decision: Decision, shadowDiffers: boolean): boolean {
    return decision.action !== 'Allow' || shadowDiffers || this.#logAllowed;
  }

  record(entry: DecisionLogEntry): void {
    if (this.#closed || !this.wants(entry.decision, entry.shadow != null)) return;
    const now = this.#now();
    if (now - this.#windowStart >= this.#interval) this.#summarizeIfDue();
    const elapsed = now - this.#refilledAt;
    if (elapsed > 0) {
      this.#tokens = Math.min(this.#burst, this.#tokens + (elapsed * this.#rate) / 1000);
      this.#refilledAt = now;
    }
    const label = decisionLabel(entry.decision.action);
    if (this.#tokens < 1) {
      this.#dropped++;
      this.#droppedBy[label] = (this.#droppedBy[label] ?? 0) + 1;
      return;
    }
    this.#tokens -= 1;
    this.#logger.info(lineOf(label, entry), 'decision');
  }

  flush(): void {
    this.#summarize();
    this.#logger.flush();
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.flush();
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (!this.#ownsDestination) return Promise.resolve();
    const destination = this.#destination as DestinationStream & Partial<EventEmitter> & { end?(): void };
    return new Promise((resolve) => {
      const done = setTimeout(resolve, 1000);
      done.unref();
      destination.once?.('close', () => {
        clearTimeout(done);
        resolve();
      });
      destination.end?.();
    });
  }

  #summarizeIfDue(): void {
    if (this.#now() - this.#windowStart >= this.#interval) this.#summarize();
  }

  #summarize(): void {
    this.#windowStart = this.#now();
    if (this.#dropped === 0 && this.#outputDroppedBytes === 0) return;
    const summary: Record<string, unknown> = { dropped: this.#dropped, byDecision: this.#droppedBy };
    if (this.#outputDroppedBytes > 0) summary.outputDroppedBytes = this.#outputDroppedBytes;
    this.#dropped = 0;
    this.#droppedBy = {};
    this.#outputDroppedBytes = 0;
    this.#logger.warn(summary, DROP_SUMMARY_MESSAGE);
  }
}

export function lineOf(decision: DecisionLabel, entry: DecisionLogEntry): Record<string, unknown> {
  const { destination, http } = entry;
  const line: Record<string, unknown> = {
    decision,
    via: entry.decision.via,
    mesh: destination === undefined ? null : destination.mesh,
    source: sourceSpiffeId(entry.client),
    destination: destination === undefined ? null : (destination.tags.get(SERVICE_TAG) ?? null),
    policy: entry.decision.decidedBy?.policy ?? null,
    fromIndex: entry.decision.decidedBy?.fromIndex ?? null,
  };
  const ruleIndex = ruleIndexOf(entry.decision.decidedBy);
  if (ruleIndex !== undefined) line.ruleIndex = ruleIndex;
  if (http !== undefined) {
    line.method = clip(http.method);
    line.host = clip(http.host);
    line.path = clip(stripQuery(http.path));
    line.requestId = http.requestId === undefined ? null : clip(http.requestId);
  }
  if (entry.shadow != null) line.shadow = entry.shadow;
  return line;
}

/**
 * The client's SPIFFE ID(s): `spiffe://<mesh>/<service>`, several joined by `,` for a proxy with
 * several inbounds; null without a (valid) identity.
 */
export function sourceSpiffeId(client: Client): string | null {
  if (client.kind !== 'identity') return null;
  const { mesh, tags } = client.identity;
  const services = tags.get(SERVICE_TAG);
  if (services === undefined || services.length === 0) return null;
  return services.map((service) => `spiffe://${mesh}/${service}`).join(',');
}

function stripQuery(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

function clip(text: string): string {
  return text.length <= MAX_FIELD_CHARS ? text : `${text.slice(0, MAX_FIELD_CHARS)}…`;
}
