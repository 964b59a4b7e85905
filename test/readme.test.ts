/**
 * The README is part of the interface: its flag table and metric names must match the code, and
 * every command it shows must work as written on a fresh copy of the repository.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { METRIC_NAMES } from '../src/observability/metrics.js';
import { settingsMarkdownTable } from '../src/settings/settings.js';
import { STORE_METRIC_NAMES } from '../src/observability/store-metrics.js';
import { commandOf, type RunnableBlock, readmeBlocks } from './support/readme-blocks.js';
import { ensureBuilt, REPO } from './support/server.js';

const README = readFileSync(join(import.meta.dirname, '../README.md'), 'utf8');

describe('README', () => {
  it('shows the run and test commands', () => {
    expect(README).toContain('npm ci && npm start');
    expect(README).toContain('npm ci && npm test');
  });

  it('has the configuration table generated from the settings', () => {
    expect(README).toContain(settingsMarkdownTable().trim());
  });

  it('documents every metric', () => {
    for (const name of Object.values(METRIC_NAMES)) expect(README).toContain(`\`${name}\``);
    for (const name of Object.values(STORE_METRIC_NAMES)) expect(README).toContain(`\`${name}\``);
  });
});

/**
 * Commands not run here, each with the reason. Everything else in a `sh` block runs; a new
 * command that should not run here must be added with its reason.
 */
const NOT_RUN_HERE: ReadonlyMap<string, string> = new Map([
  ['npm ci && npm start', '.ci/run starts the quick-start server on a clean clone and probes it'],
  ['npm ci && npm test', 'this suite is that command'],
  ['npm run demo', 'test/integration/demo.test.ts runs the demo'],
]);

/** A server command: started in the background and stopped after the last block. */
const SERVE = /^(npx mtp-authz|node dist\/cli\.js) serve /;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** The tracked and new files of the working tree, copied; node_modules and dist/ linked. */
function freshCopy(): string {
  const copy = mkdtempSync(join(tmpdir(), 'mtp-readme-'));
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: REPO,
    encoding: 'utf8',
  })
    .split('\0')
    .filter((f) => f !== '');
  for (const file of files) {
    const from = join(REPO, file);
    if (!existsSync(from) || !lstatSync(from).isFile()) continue;
    mkdirSync(dirname(join(copy, file)), { recursive: true });
    copyFileSync(from, join(copy, file));
  }
  symlinkSync(join(REPO, 'node_modules'), join(copy, 'node_modules'));
  symlinkSync(join(REPO, 'dist'), join(copy, 'dist'));
  return copy;
}

describe('README commands, on a fresh copy', () => {
  const blocks: readonly RunnableBlock[] = readmeBlocks(README);
  const servers: ChildProcess[] = [];
  let copy: string | undefined;
  afterAll(async () => {
    for (const server of servers) {
      if (server.pid !== undefined && server.exitCode === null) {
        const exited = new Promise((resolve) => server.once('exit', resolve));
        process.kill(-server.pid, 'SIGTERM');
        await exited;
      }
    }
    if (copy !== undefined) rmSync(copy, { recursive: true, force: true });
  });

  it('finds the command blocks and transcripts', () => {
    expect(blocks.filter((b) => b.kind === 'commands').length).toBeGreaterThanOrEqual(3);
    expect(blocks.filter((b) => b.kind === 'transcript').length).toBeGreaterThanOrEqual(3);
  });

  it(
    'every command block succeeds and every transcript prints what it shows',
    { timeout: 180_000 },
    async () => {
      ensureBuilt();
      copy = freshCopy();
      const cwd = copy;
      // The README's ports, moved to free ones: tests run side by side on one machine.
      const httpPort = await freePort();
      const grpcPort = await freePort();
      const local = (text: string): string => text.replaceAll('localhost:9192', `localhost:${httpPort}`);
      const run = (script: string) =>
        spawnSync('bash', ['-c', script], {
          cwd,
          encoding: 'utf8',
          timeout: 60_000,
          env: { ...process.env },
        });

      for (const block of blocks) {
        if (block.kind === 'transcript') {
          for (const step of block.steps) {
            const result = run(`exec 2>&1\n${local(step.command)}`);
            expect(result.stdout.trimEnd(), `README line ${block.line}: ${step.command}`).toBe(step.output);
          }
          continue;
        }
        const script: string[] = [];
        const runScript = (): void => {
          if (script.length === 0) return;
          const result = run(`set -euo pipefail\n${script.join('\n')}`);
          expect(result.status, `README line ${block.line} failed:\n${result.stderr}${result.stdout}`).toBe(
            0,
          );
          script.length = 0;
        };
        for (const line of block.lines) {
          if (NOT_RUN_HERE.has(commandOf(line))) continue;
          if (SERVE.test(line)) {
            runScript();
            const addresses = `--http-address 127.0.0.1:${httpPort} --grpc-address 127.0.0.1:${grpcPort}`;
            servers.push(await startServer(cwd, `${line} ${addresses}`, httpPort));
          } else script.push(local(line));
        }
        runScript();
      }
    },
  );
});

/** Starts `command` in its own process group and waits until it answers /readyz. */
async function startServer(cwd: string, command: string, httpPort: number): Promise<ChildProcess> {
  const child = spawn('bash', ['-c', `exec ${command}`], {
    cwd,
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${command} exited ${child.exitCode}:\n${stderr}`);
    const ready = await fetch(`http://127.0.0.1:${httpPort}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return child;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${command} did not become ready:\n${stderr}`);
}
