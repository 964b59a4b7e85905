// What a benchmark leaves behind: its child processes and its temporary directory, removed however
// the run ends (a thrown error, a failed target, or the last line).
import { rmSync } from 'node:fs';

/** Registers the clean-up for process exit; returns it, for an explicit call at the end. */
export function cleanupOnExit(children, dir) {
  const cleanup = () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', cleanup);
  return cleanup;
}
