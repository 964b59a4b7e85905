// h2load against a gRPC Check port, and the check that its answers really were OK answers (h2load
// counts any HTTP 200 as success, whatever the grpc-status).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

const PATH = '/envoy.service.auth.v3.Authorization/Check';

/** One h2load run; `cpu` is a command prefix such as ['taskset', '-c', '1']. */
export function h2load(port, frameFile, { seconds, count, connections = 4, streams = 25, cpu = [] }) {
  const args = [...cpu, 'h2load', '-c', String(connections), '-m', String(streams), '-t', '1'];
  if (seconds !== undefined) args.push('-D', String(seconds));
  if (count !== undefined) args.push('-n', String(count));
  args.push(
    '-d',
    frameFile,
    '-H',
    'content-type: application/grpc',
    '-H',
    'te: trailers',
    `http://127.0.0.1:${port}${PATH}`,
  );
  return new Promise((resolve) => {
    const child = spawn(args[0], args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.on('exit', () => {
      const num = (re) => Number(re.exec(out)?.[1] ?? NaN);
      resolve({
        done: num(/(\d+) done/),
        succeeded: num(/(\d+) succeeded/),
        failed: num(/(\d+) failed/),
        errored: num(/(\d+) errored/),
        s2xx: num(/(\d+) 2xx/),
        dataBytes: num(/\((\d+)\) data/),
        rps: num(/finished in [\d.]+\w+, ([\d.]+) req\/s/),
        raw: out,
      });
    });
  });
}

/** Errors and non-OK answers of a run whose every OK answer is `okBytes` of DATA. */
export function verify(run, okBytes) {
  const errors = Math.max(run.failed + run.errored, run.done - run.s2xx, 0);
  const nonOk = run.s2xx - Math.floor(run.dataBytes / okBytes);
  return { errors, non_ok: nonOk, exact: run.dataBytes % okBytes === 0 };
}

/** user+system CPU seconds of a process so far. */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
