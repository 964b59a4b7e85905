/**
 * `mtp-authz serve`: reads the settings, checks the files they name, then serves as one process
 * or as a primary with `--workers` processes, and owns the exit codes and the signals.
 */
import { EXIT_USAGE } from '../service/open.js';
import { drainOnSignals, exitAfterFlush, exitDeadline, startOrExit } from '../service/signals.js';
import { type RunningService, start } from '../service/single.js';
import { createLogger } from '../observability/log.js';
import { readSettings } from '../settings/settings.js';
import { checkStartupFiles } from '../settings/startup-checks.js';

/**
 * `mtp-authz serve`: resolves after a clean shutdown (exit 0). Bad usage (a flag naming a file that
 * cannot serve its purpose included) exits 2, invalid policies or a listener that cannot open
 * exit 1, each after a message on stderr.
 */
export async function serve(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const result = readSettings(argv, env);
  if (result.kind === 'help') {
    process.stdout.write(result.text);
    return;
  }
  if (result.kind === 'error') {
    process.stderr.write(`mtp-authz serve: ${result.message}\n`);
    process.exit(EXIT_USAGE);
  }
  const { settings } = result;
  const log = createLogger(settings.logLevel);
  const problem = checkStartupFiles(settings);
  if (problem !== undefined) {
    log.error(problem);
    process.exit(EXIT_USAGE);
  }
  // SIGHUP's default action ends the process: take it over before anything can send it (and
  // before the service exists to reload).
  let service: RunningService | undefined = undefined;
  const onHangup = (): void => {
    if (service === undefined) return;
    log.info('SIGHUP: reloading policies');
    void service.reloader.reload('SIGHUP');
    void service.revocations?.reload();
  };
  process.on('SIGHUP', onHangup);
  if (settings.workers > 1) {
    const [{ default: cluster }, { servePrimary }, { serveWorker }] = await Promise.all([
      import('node:cluster'),
      import('../service/cluster/primary.js'),
      import('../service/cluster/worker.js'),
    ]);
    await (cluster.isPrimary ? servePrimary(settings, log, process) : serveWorker(settings, log, process));
    process.off('SIGHUP', onHangup);
    return;
  }
  const running = await startOrExit(process, log, () => start(settings, { log }));
  service = running;

  let deadline = 0;
  await drainOnSignals(process, {
    drain: (signal) => {
      deadline = exitDeadline(process, settings.shutdownGraceMs);
      log.info({ signal }, 'shutting down');
      return running.stop();
    },
    force: (signal) => {
      log.warn({ signal }, 'second signal; closing now');
      running.grpc.forceClose();
    },
    release: true,
  });
  process.off('SIGHUP', onHangup);
  await exitAfterFlush(process, log, 0, deadline);
}
