/**
 * gRPC calls made with `nghttp` (Debian nghttp2-client), an HTTP/2 client that shares no code
 * with Node, and what it saw on the wire, read from its verbose frame log (`-v`): per stream, the
 * HEADERS frames received (header fields, trailers) and DATA payloads, RST_STREAM; per run, the
 * connections and GOAWAY. nghttp writes each DATA payload to stdout just before the line that logs
 * that frame; the reader cuts it from there by the logged length and refuses any byte it cannot
 * account for, so a log it misreads fails the test instead of passing it.
 */
import { execFile } from 'node:child_process';

export const NGHTTP_PACKAGE = 'nghttp2-client';

/** One HEADERS frame received: its header fields in order, and whether it ended the stream. */
export interface HeaderBlock {
  readonly fields: ReadonlyArray<readonly [string, string]>;
  readonly endStream: boolean;
}

/** What one request (one stream) received, in the order it arrived. */
export interface StreamLog {
  readonly id: number;
  /** The :path nghttp sent. */
  readonly path: string;
  readonly headerBlocks: HeaderBlock[];
  /** The payload of each DATA frame received. */
  readonly data: Buffer[];
  /** The error code of each RST_STREAM received, e.g. `NO_ERROR`. */
  readonly resets: string[];
}

export interface NghttpRun {
  /** The streams in the order nghttp opened them. */
  readonly streams: StreamLog[];
  /** How many connections nghttp opened. */
  readonly connections: number;
  /** The error code of each GOAWAY the server sent. */
  readonly goaways: string[];
}

/** `[  0.012] `: every event of the log starts with its time. */
const STAMP = /\[ *\d+\.\d{3}\] /g;
const FRAME = /^(send|recv) (\w+) frame <length=(\d+), flags=0x([0-9a-f]{2}), stream_id=(\d+)>$/;
const RECEIVED_FIELD = /^recv \(stream_id=(\d+)\) (:?[^:]+): (.*)$/;
const DETAIL_INDENT = '          ';
const ERROR_CODE = /error_code=(\w+)\(0x[0-9a-f]+\)/;
const END_STREAM = 0x1;

interface LoggedFrame {
  readonly received: boolean;
  readonly type: string;
  readonly length: number;
  readonly flags: number;
  readonly streamId: number;
}

function frameOf(line: string): LoggedFrame | undefined {
  const match = FRAME.exec(line);
  if (match === null) return undefined;
  const [, direction, type, length, flags, streamId] = match.map(String);
  return {
    received: direction === 'recv',
    type: String(type),
    length: Number(length),
    flags: parseInt(String(flags), 16),
    streamId: Number(streamId),
  };
}

interface LogEvent {
  readonly line: string;
  /** The indented lines after it. */
  readonly details: readonly string[];
  /** For a received DATA frame: its payload. */
  readonly payload?: Buffer;
}

/** Splits the log into events, each DATA payload moved to the event of its frame. */
function eventsOf(output: Buffer): LogEvent[] {
  const text = output.toString('latin1');
  const stamps = [...text.matchAll(STAMP)];
  if (stamps[0]?.index !== 0)
    throw new Error(`nghttp log: no event first: ${JSON.stringify(text.slice(0, 80))}`);
  const raw = stamps.map((stamp, i) =>
    text.slice(stamp.index + stamp[0].length, stamps[i + 1]?.index ?? text.length),
  );
  const payloads = new Map<number, Buffer>();
  for (let i = 1; i < raw.length; i++) {
    const frame = frameOf(String(raw[i]).split('\n', 1)[0] as string);
    if (frame === undefined || !frame.received || frame.type !== 'DATA') continue;
    const before = String(raw[i - 1]);
    const cut = before.length - frame.length;
    if (cut < 1 || before[cut - 1] !== '\n') {
      throw new Error(`nghttp log: no ${frame.length}-byte payload before ${JSON.stringify(raw[i])}`);
    }
    payloads.set(i, Buffer.from(before.slice(cut), 'latin1'));
    raw[i - 1] = before.slice(0, cut);
  }
  return raw.map((event, i) => {
    const [line = '', ...details] = event.replace(/\n$/, '').split('\n');
    const stray = details.find((detail) => !detail.startsWith(DETAIL_INDENT));
    if (stray !== undefined) throw new Error(`nghttp log: unexpected ${JSON.stringify(stray)} after ${line}`);
    const payload = payloads.get(i);
    return payload === undefined ? { line, details } : { line, details, payload };
  });
}

function errorCodeOf(event: LogEvent): string {
  const code = event.details.map((detail) => ERROR_CODE.exec(detail)?.[1]).find((c) => c !== undefined);
  if (code === undefined) throw new Error(`nghttp log: no error code after ${event.line}`);
  return code;
}

/** Reads nghttp's `-v` output (its stdout, as bytes). */
export function parseNghttpLog(output: Buffer): NghttpRun {
  const opened: StreamLog[] = [];
  const goaways: string[] = [];
  let connections = 0;
  const streams = new Map<number, StreamLog>();
  /** Header fields received, until the HEADERS frame that carried them is logged. */
  const fields = new Map<number, Array<[string, string]>>();
  const stream = (id: number): StreamLog => {
    const found = streams.get(id);
    if (found === undefined) throw new Error(`nghttp log: a frame of stream ${id}, which was never opened`);
    return found;
  };

  for (const event of eventsOf(output)) {
    const field = RECEIVED_FIELD.exec(event.line);
    const frame = frameOf(event.line);
    if (event.line === 'Connected') {
      connections++;
    } else if (field !== null) {
      const id = Number(field[1]);
      fields.set(id, [...(fields.get(id) ?? []), [String(field[2]), String(field[3])]]);
    } else if (frame === undefined) {
      throw new Error(`nghttp log: unknown event ${JSON.stringify(event.line)}`);
    } else if (!frame.received && frame.type === 'HEADERS') {
      const path = event.details
        .map((detail) => detail.trim())
        .find((detail) => detail.startsWith(':path: '));
      const log = { id: frame.streamId, path: path?.slice(7) ?? '', headerBlocks: [], data: [], resets: [] };
      streams.set(frame.streamId, log);
      opened.push(log);
    } else if (frame.received && frame.type === 'HEADERS') {
      const endStream = (frame.flags & END_STREAM) !== 0;
      stream(frame.streamId).headerBlocks.push({ fields: fields.get(frame.streamId) ?? [], endStream });
      fields.delete(frame.streamId);
    } else if (frame.received && frame.type === 'DATA') {
      stream(frame.streamId).data.push(event.payload ?? Buffer.alloc(0));
    } else if (frame.received && frame.type === 'RST_STREAM') {
      stream(frame.streamId).resets.push(errorCodeOf(event));
    } else if (frame.received && frame.type === 'GOAWAY') {
      goaways.push(errorCodeOf(event));
    }
  }
  const [left] = fields;
  if (left !== undefined) throw new Error(`nghttp log: stream ${left[0]}'s fields came in no HEADERS frame`);
  return { streams: opened, connections, goaways };
}

export interface NghttpCall {
  /** `http://host:port`. */
  readonly authority: string;
  /** One or more method paths, requested on one connection in this order. */
  readonly paths: readonly string[];
  /** The request body of every request (`-d`). */
  readonly bodyFile: string;
  /** Header fields beside the gRPC ones (`-H`); one named like a gRPC one replaces it. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Requests each path this many times (`-m`). */
  readonly times?: number;
  /** Called with all of nghttp's output so far, whenever more arrives (to act mid-call). */
  readonly onOutput?: (soFar: string) => void;
}

/** Runs nghttp for gRPC calls (POST, application/grpc, te: trailers) and reads what it saw. */
export function nghttp(call: NghttpCall): Promise<NghttpRun> {
  const headers = { 'content-type': 'application/grpc', te: 'trailers', ...call.headers };
  const args = [
    '-v',
    '--timeout=5',
    ...[':method: POST', ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)].flatMap(
      (header) => ['-H', header],
    ),
    '-d',
    call.bodyFile,
    ...(call.times === undefined ? [] : ['-m', String(call.times)]),
    ...call.paths.map((path) => `${call.authority}${path}`),
  ];
  return new Promise((resolve, reject) => {
    const options = { encoding: 'buffer' as const, timeout: 10_000, maxBuffer: 16 * 1024 * 1024 };
    const child = execFile('nghttp', args, options, (error, stdout, stderr) => {
      if ((error as NodeJS.ErrnoException | null)?.code === 'ENOENT') {
        reject(
          new Error(`nghttp is not installed; the wire tests need it: apt-get install ${NGHTTP_PACKAGE}`),
        );
      } else if (error !== null) {
        reject(new Error(`nghttp ${args.join(' ')}: ${error.message}\n${stderr.toString()}`));
      } else {
        resolve(parseNghttpLog(stdout));
      }
    });
    const { onOutput } = call;
    if (onOutput !== undefined) {
      let soFar = '';
      child.stdout?.on('data', (chunk: Buffer) => onOutput((soFar += chunk.toString('latin1'))));
    }
  });
}
