/**
 * `mtp-authz serve` in the test's own process: the settings, composition and listeners `serve`
 * starts (service/single.ts), on ephemeral loopback ports, with its log lines, decision lines and
 * start-up report kept as a spawned server's would be. For tests of what the service answers and
 * logs; signals, exit codes and --workers are tested on spawned CLIs. Here SIGHUP is a reload, as
 * `serve` does it, and any other signal a drain.
 */
import { Writable } from 'node:stream';
import { createDecisionLog } from '../../src/observability/decision-log.js';
import { createLogger } from '../../src/observability/log.js';
import { type RunningService, start } from '../../src/service/single.js';
import { readSettings } from '../../src/settings/settings.js';
import { checkStartupFiles } from '../../src/settings/startup-checks.js';
import { recordLines, type ServerLines } from '../../kit/serve.mjs';

export interface ServedHere extends ServerLines {
  readonly service: RunningService;
  readonly grpcTarget: string;
  readonly httpPort: number;
  /** Resolves with 0 once a stop has drained everything. */
  readonly exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
}

/** Calls `line` with every complete line written to the stream. */
function lineStream(line: (text: string) => void): Writable {
  return new Writable({
    write(chunk, _encoding, done) {
      for (const text of String(chunk).split('\n')) if (text !== '') line(text);
      done();
    },
  });
}

/** Starts the service over `serve ARGS` (and env) on 127.0.0.1:0; throws where `serve` would exit. */
export async function serveInProcess(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<ServedHere> {
  const read = readSettings(['--grpc-address', '127.0.0.1:0', '--http-address', '127.0.0.1:0', ...args], env);
  if (read.kind !== 'settings') throw new Error(`serve ${args.join(' ')}: ${JSON.stringify(read)}`);
  const { settings } = read;
  const problem = checkStartupFiles(settings);
  if (problem !== undefined) throw new Error(problem);
  const lines = recordLines();
  const log = createLogger(settings.logLevel, lineStream(lines.stderrLine));
  const decisionLog = createDecisionLog({
    logAllowed: settings.logAllowed,
    destination: lineStream(lines.stdoutLine),
  });
  const service = await start(settings, { log, decisionLog, report: lines.stderrLine });
  let stopping: Promise<number> | undefined;
  let stopped!: (exit: number) => void;
  const exited = new Promise<number>((resolve) => (stopped = resolve));
  return {
    ...lines,
    service,
    grpcTarget: service.grpc.target,
    httpPort: service.http.port,
    exited,
    kill(signal = 'SIGTERM') {
      if (signal === 'SIGHUP') {
        log.info('SIGHUP: reloading policies');
        void service.reloader.reload('SIGHUP');
        void service.revocations?.reload();
        return;
      }
      if (signal === 'SIGKILL') service.grpc.forceClose();
      stopping ??= service.stop().then(() => {
        lines.ended(0);
        stopped(0);
        return 0;
      });
    },
  };
}
