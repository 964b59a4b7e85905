/**
 * `mtp-authz serve` as a child process, as an operator runs it: its JSON log lines on stderr are
 * read as they come (the listening lines tell the bound ports), its stdout (decision lines) is kept
 * or thrown away, and it ends by a signal.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The repository root. */
export const REPO = join(import.meta.dirname, '..');
/** The built CLI. */
export const CLI = join(REPO, 'dist', 'cli.js');

/**
 * True when some source file is newer than the built CLI.
 * @returns {boolean}
 */
function sourcesNewerThanBuild() {
  const out = execFileSync('find', [join(REPO, 'src'), '-name', '*.ts', '-newer', CLI], { encoding: 'utf8' });
  return out.trim() !== '';
}

/** Builds dist/ when it is missing or older than a source file. */
export function ensureBuilt() {
  if (existsSync(CLI) && statSync(CLI).isFile() && !sourcesNewerThanBuild()) return;
  try {
    execFileSync(
      process.execPath,
      [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
      {
        cwd: REPO,
        stdio: 'pipe',
      },
    );
  } catch {
    // tsc emits despite type errors elsewhere in the tree; the spawned CLI is what runs.
  }
}

/**
 * @typedef {{ readonly level: number; readonly msg: string; readonly [key: string]: unknown }} LogLine
 */

/**
 * A spawned server; its stdout lines stay empty with `stdout: 'discard'`.
 * @typedef {ServerLines & {
 *   child: import('node:child_process').ChildProcess;
 *   exited: Promise<number | string>;
 *   kill: (signal?: NodeJS.Signals) => void;
 * }} ServeProcess
 */

/**
 * @typedef {object} SpawnOptions
 * @property {NodeJS.ProcessEnv} [env] The whole environment of the server (default: this process's).
 * @property {number} [openFileLimit] Runs the server under this open-file limit (`ulimit -n` in a shell that then execs it).
 * @property {string} [cli] Another build of the CLI (default: dist/cli.js).
 * @property {readonly string[]} [prefix] A command the server runs under, e.g. `taskset -c 0`.
 * @property {readonly string[]} [nodeArgs] Flags for node itself, e.g. `--trace-gc-nvp`.
 * @property {'lines' | 'discard'} [stdout] Keep stdout's lines (default) or read and drop them (a load
 *   run writes millions); either way stdout is a pipe that is read, as an operator's would be.
 */

/**
 * Calls `sink` with every complete line of a stream.
 * @param {NodeJS.ReadableStream | null} stream
 * @param {(line: string) => void} sink
 */
function eachLine(stream, sink) {
  let partial = '';
  stream?.on('data', (/** @type {Buffer} */ chunk) => {
    const parts = (partial + chunk.toString('utf8')).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) sink(line);
  });
}

/**
 * What a server has said so far, as a test reads it.
 * @typedef {object} ServerLines
 * @property {string[]} stderr Operational log lines (JSON) and any other stderr text, as received.
 * @property {LogLine[]} logs
 * @property {string[]} stdout Its decision (and audit) lines.
 * @property {(match: (line: LogLine) => boolean, timeoutMs?: number) => Promise<LogLine>} waitForLog
 *   Resolves when a log line satisfies `match`.
 */

/**
 * Keeps a server's lines and answers waitForLog; `ended` tells it the server is gone.
 * @returns {ServerLines & { stderrLine(line: string): void; stdoutLine(line: string): void; ended(exit: number | string): void }}
 */
export function recordLines() {
  /** @type {string[]} */
  const stderr = [];
  /** @type {string[]} */
  const stdout = [];
  /** @type {LogLine[]} */
  const logs = [];
  /** @type {Set<() => void>} */
  const waiters = new Set();
  /** @type {number | string | undefined} */
  let exit;
  const wake = () => {
    for (const waiter of waiters) waiter();
  };
  return {
    stderr,
    stdout,
    logs,
    stderrLine(line) {
      stderr.push(line);
      if (line.startsWith('{')) {
        try {
          logs.push(JSON.parse(line));
        } catch {
          // not a log line
        }
      }
      wake();
    },
    stdoutLine(line) {
      stdout.push(line);
      wake();
    },
    ended(code) {
      exit = code;
      wake();
    },
    waitForLog(match, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = logs.find(match);
          if (found !== undefined) {
            done();
            resolve(found);
          } else if (exit !== undefined) {
            done();
            reject(new Error(`server exited (${exit}) before the expected log line:\n${stderr.join('\n')}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out waiting for a log line:\n${stderr.join('\n')}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/**
 * Spawns `node dist/cli.js serve ARGS` (see ensureBuilt).
 * @param {readonly string[]} args
 * @param {SpawnOptions} [options]
 * @returns {ServeProcess}
 */
export function spawnServe(args, options = {}) {
  const cli = options.cli ?? CLI;
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first`);
  const command = [
    ...(options.prefix ?? []),
    process.execPath,
    ...(options.nodeArgs ?? []),
    cli,
    'serve',
    ...args,
  ];
  const [file = '', ...argv] =
    options.openFileLimit === undefined
      ? command
      : ['/bin/sh', '-c', 'ulimit -n "$0" && exec "$@"', String(options.openFileLimit), ...command];
  const child = spawn(file, argv, {
    cwd: REPO,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines = recordLines();
  if (options.stdout === 'discard') child.stdout?.resume();
  else eachLine(child.stdout, lines.stdoutLine);
  eachLine(child.stderr, lines.stderrLine);
  /** @type {Promise<number | string>} */
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      const exit = code ?? signal ?? -1;
      resolve(exit);
      lines.ended(exit);
    });
  });
  return {
    child,
    stderr: lines.stderr,
    stdout: lines.stdout,
    logs: lines.logs,
    waitForLog: lines.waitForLog,
    exited,
    kill: (signal = 'SIGTERM') => child.kill(signal),
  };
}

/**
 * @typedef {ServeProcess & { grpcTarget: string; grpcPort: number | undefined; httpPort: number }} StartedServe
 */

/** `serve` flags for both listeners on loopback, each on a port the system picks. */
export const LOOPBACK_PORTS = Object.freeze([
  '--grpc-address',
  '127.0.0.1:0',
  '--http-address',
  '127.0.0.1:0',
]);

/**
 * Spawns the CLI on ephemeral loopback ports and waits for both listening lines.
 * @param {readonly string[]} args
 * @param {SpawnOptions & { timeoutMs?: number }} [options]
 * @returns {Promise<StartedServe>}
 */
export async function startServe(args, options = {}) {
  const server = spawnServe([...LOOPBACK_PORTS, ...args], options);
  /** @type {(listener: string) => Promise<LogLine>} */
  const listening = (listener) =>
    server.waitForLog((l) => l.msg === 'listening' && l.listener === listener, options.timeoutMs);
  try {
    const grpc = await listening('grpc');
    const http = await listening('http');
    return Object.assign(server, {
      grpcTarget: /** @type {string} */ (grpc.address),
      grpcPort: /** @type {number | undefined} */ (grpc.port),
      httpPort: /** @type {number} */ (http.port),
    });
  } catch (error) {
    server.kill('SIGKILL');
    throw error;
  }
}

/**
 * Ends a server (if any) with `signal` and resolves with how it exited.
 * @param {ServeProcess | undefined} server
 * @param {NodeJS.Signals} [signal]
 * @returns {Promise<number | string | undefined>}
 */
export async function stopServe(server, signal = 'SIGKILL') {
  if (server === undefined) return undefined;
  if (server.child.exitCode === null && server.child.signalCode === null) server.kill(signal);
  return server.exited;
}
