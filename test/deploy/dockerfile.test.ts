/**
 * The Dockerfile builds with dev dependencies and runs with production ones only, as a numeric
 * non-root user, exposes the service's ports, starts the CLI, and its HEALTHCHECK works.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../support/server.js';
import { CONTRACT, REPO } from './contract.js';

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

interface Stage {
  readonly image: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

/** Stages of a Dockerfile: continuation lines joined, comments dropped, global ARGs resolved. */
function parseDockerfile(text: string): Stage[] {
  const logical = text
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of logical) {
    const [keyword = '', ...rest] = line.split(/\s+/);
    const instruction = { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    if (instruction.keyword === 'FROM') {
      const [image = '', as, name] = rest;
      const resolved = image.replace(/\$\{(\w+)\}/g, (_, arg: string) => args.get(arg) ?? '');
      stages.push({ image: resolved, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else if (stages.length === 0 && instruction.keyword === 'ARG') {
      const [arg = '', value = ''] = instruction.args.split('=');
      args.set(arg, value);
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return stages;
}

const dockerfile = parseDockerfile(readFileSync(join(REPO, 'Dockerfile'), 'utf8'));
const final = dockerfile.at(-1) as Stage;
const all = (stage: Stage, keyword: string): string[] =>
  stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
const execForm = (stage: Stage, keyword: string): unknown => JSON.parse(all(stage, keyword).at(-1) ?? 'null');

describe('Dockerfile', () => {
  // A supported Node LTS (20 is past its end of life), pinned by digest so rebuilds are repeatable.
  const PINNED_LTS = /^node:(22|24)-bookworm-slim@sha256:[0-9a-f]{64}$/;

  it('builds in a pinned Node LTS stage with dev dependencies: npm ci, then npm run build', () => {
    expect(dockerfile.length).toBeGreaterThanOrEqual(2);
    const build = dockerfile.find((s) => all(s, 'RUN').some((r) => r.includes('npm run build')));
    expect(build?.image).toMatch(PINNED_LTS);
    const runs = all(build as Stage, 'RUN');
    expect(runs.some((r) => /\bnpm ci\b/.test(r) && !r.includes('--omit=dev'))).toBe(true);
  });

  it('runs with production dependencies only, on the same pinned Node LTS', () => {
    expect(final.image).toMatch(PINNED_LTS);
    expect(new Set(dockerfile.map((stage) => stage.image)).size).toBe(1);
    const deps = dockerfile.find((s) => all(s, 'RUN').some((r) => /\bnpm ci\b.*--omit=dev/.test(r)));
    expect(deps?.name).toBeDefined();
    expect(all(final, 'COPY')).toContain(`--from=${deps?.name} /app/node_modules ./node_modules`);
    expect(all(final, 'RUN')).toEqual([]);
    expect(all(final, 'ENV')).toContain('NODE_ENV=production');
  });

  it('copies only dist/, proto/, the package files and production node_modules into the image', () => {
    const copied = all(final, 'COPY').flatMap((args) => {
      const parts = args.split(/\s+/).filter((p) => !p.startsWith('--'));
      return parts.slice(0, -1);
    });
    const allowed = ['package.json', 'package-lock.json', 'proto', '/src/dist', '/app/node_modules'];
    expect(copied.filter((source) => !allowed.includes(source))).toEqual([]);
    expect(all(final, 'ADD')).toEqual([]);
  });

  it('runs as a numeric non-root user', () => {
    const user = all(final, 'USER').at(-1) ?? '';
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(Number(user.split(':')[0])).toBeGreaterThan(0);
  });

  it('exposes the gRPC and HTTP ports of the service defaults', () => {
    const ports = all(final, 'EXPOSE').flatMap((a) => a.split(/\s+/).map((p) => Number(p.split('/')[0])));
    expect(ports).toEqual(expect.arrayContaining([CONTRACT.grpcPort, CONTRACT.httpPort]));
  });

  it('starts the CLI, serving the mounted policy directory by default', () => {
    expect(execForm(final, 'ENTRYPOINT')).toEqual(['node', 'dist/cli.js']);
    expect(execForm(final, 'CMD')).toEqual(['serve', '--policies', CONTRACT.policyDir]);
  });
});

describe('Dockerfile HEALTHCHECK', () => {
  const healthcheck = all(final, 'HEALTHCHECK').at(-1) ?? '';
  const argv = JSON.parse(healthcheck.slice(healthcheck.indexOf('CMD ') + 4)) as string[];
  let server: Server;
  let status = 200;
  let port = 0;

  beforeAll(async () => {
    ensureBuilt();
    server = createServer((req, res) => {
      res.writeHead(req.url === CONTRACT.healthzPath ? status : 404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** The healthcheck's exit code, run with this node in place of the image's, from the image's WORKDIR. */
  const run = (address: string): Promise<number> =>
    new Promise((resolve) => {
      expect(argv[0]).toBe('node');
      execFile(
        process.execPath,
        argv.slice(1),
        { cwd: REPO, env: { MTP_AUTHZ_HTTP_ADDRESS: address } },
        (error) => resolve(error === null ? 0 : typeof error.code === 'number' ? error.code : -1),
      );
    });

  it('is an exec-form node script that ships in dist/ (slim images have no curl)', () => {
    expect(healthcheck).toMatch(/^--interval=\S+ --timeout=\S+ .*CMD \[/);
    expect(argv).toEqual(['node', 'dist/healthcheck.js']);
    expect(all(final, 'COPY')).toContain('--from=build /src/dist ./dist');
    expect(all(final, 'WORKDIR').at(-1)).toBe('/app');
  });

  it('passes on 200, fails on another status and on a closed port', async () => {
    status = 200;
    expect(await run(`0.0.0.0:${port}`)).toBe(0);
    expect(await run(`127.0.0.1:${port}`)).toBe(0);
    status = 503;
    expect(await run(`0.0.0.0:${port}`)).toBe(1);
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    expect(await run(`0.0.0.0:${closedPort}`)).toBe(1);
    expect(await run('not an address')).toBe(1);
  });
});

describe('.dockerignore', () => {
  const patterns = readFileSync(join(REPO, '.dockerignore'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const ignored = (path: string): boolean =>
    patterns.some((pattern) => {
      const regex = pattern
        .replace(/[.+^$()|[\]{}]/g, '\\$&')
        .replace(/\*\*\//g, '(?:.*/)?')
        .replace(/\*/g, '[^/]*');
      return new RegExp(`^${regex}(?:/.*)?$`).test(path);
    });

  it('keeps local builds, dependencies, VCS data and tests out of the build context', () => {
    for (const path of ['node_modules', 'dist', '.git', 'test', 'bench', 'coverage', 'deploy', 'envoy']) {
      expect(ignored(path), path).toBe(true);
    }
  });

  it('keeps everything the Dockerfile copies from the context', () => {
    const sources = dockerfile
      .flatMap((stage) => all(stage, 'COPY'))
      .filter((args) => !args.startsWith('--from='))
      .flatMap((args) => args.split(/\s+/).slice(0, -1));
    expect(sources).toEqual(expect.arrayContaining(['src', 'proto', 'package.json', 'package-lock.json']));
    expect(sources.filter(ignored)).toEqual([]);
  });
});
