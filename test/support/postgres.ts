/**
 * A throw-away PostgreSQL cluster per test file: `initdb` in a fresh temp directory, password
 * authentication (scram-sha-256, a random password), loopback TCP on a free port, the Unix socket
 * inside the temp directory. PostgreSQL refuses to run as root, so when the tests run as root (as
 * they do in CI) every server binary runs as the `postgres` system user the Debian package creates.
 *
 * A watcher process outlives a crashed test run: when the process that started the cluster dies,
 * however it dies, the watcher stops the postmaster and removes the directory.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  accessSync,
  chownSync,
  constants,
  existsSync,
  mkdtempSync,
  readdirSync,
  writeFileSync,
} from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

export interface TestDatabase {
  /** postgres://USER:PASSWORD@127.0.0.1:PORT/DB — a fresh database, password auth (scram). */
  readonly url: string;
  readonly port: number;
  /** Stops the server (fast shutdown); the data stays. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same data. */
  start(): Promise<void>;
  /** Makes one more empty database in the same cluster; resolves its URL. */
  createDatabase(name: string): Promise<string>;
  /** Stops the server and removes the cluster's directory. */
  destroy(): Promise<void>;
}

const run = promisify(execFile);
const SUPERUSER = 'mtp_authz';
const FIRST_DATABASE = 'mtp_authz_test';
const DATABASE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

interface Binaries {
  readonly initdb: string;
  readonly pgCtl: string;
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** `initdb` and `pg_ctl` from PATH, else from the newest /usr/lib/postgresql/<major>/bin. */
function findBinaries(): Binaries {
  const initdb = onPath('initdb');
  const pgCtl = onPath('pg_ctl');
  if (initdb !== undefined && pgCtl !== undefined && onPath('postgres') !== undefined) {
    return { initdb, pgCtl };
  }
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root)
    ? readdirSync(root)
        .filter((name) => /^\d+$/.test(name) && existsSync(join(root, name, 'bin/initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const newest = majors[0];
  if (newest === undefined) {
    throw new Error(
      'PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or under ' +
        '/usr/lib/postgresql/*/bin; install the Debian package `postgresql` (apt-get install postgresql)',
    );
  }
  return { initdb: join(root, newest, 'bin/initdb'), pgCtl: join(root, newest, 'bin/pg_ctl') };
}

/** The uid and gid binaries run as: ours, or the `postgres` user's when we are root. */
async function serverUser(): Promise<{ uid: number; gid: number; asRoot: boolean }> {
  const uid = process.getuid?.() ?? -1;
  if (uid !== 0) return { uid, gid: process.getgid?.() ?? -1, asRoot: false };
  try {
    const [u, g] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
    return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()), asRoot: true };
  } catch {
    throw new Error(
      'running as root, and PostgreSQL refuses root: the `postgres` system user is missing ' +
        '(the Debian package `postgresql` creates it)',
    );
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

/**
 * Kills the postmaster and removes `dir` once this process is gone. It reads its stdin, a pipe whose
 * other end only this process holds, so end-of-file means this process has exited or was killed.
 */
const WATCHER = `
const { readFileSync, rmSync } = require('node:fs');
const [dir, data] = process.argv.slice(1);
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };
process.stdin.resume();
process.stdin.on('close', async () => {
  let pid;
  try { pid = Number(readFileSync(data + '/postmaster.pid', 'utf8').split('\\n')[0]); } catch {}
  if (pid > 0 && alive(pid)) {
    try { process.kill(pid, 'SIGQUIT'); } catch {}
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    if (alive(pid)) try { process.kill(pid, 'SIGKILL'); } catch {}
  }
  rmSync(dir, { recursive: true, force: true });
});
`;

function startWatcher(dir: string, data: string): { stop(): void } {
  const watcher = spawn(process.execPath, ['-e', WATCHER, dir, data], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  watcher.unref();
  // The pipe must not keep this process alive; it only has to exist for as long as this process does.
  (watcher.stdin as unknown as { unref(): void }).unref();
  return {
    stop() {
      watcher.kill('SIGKILL');
      watcher.stdin?.destroy();
    },
  };
}

export async function startTestDatabase(): Promise<TestDatabase> {
  const bin = findBinaries();
  const user = await serverUser();
  const dir = mkdtempSync(join(tmpdir(), 'mtp-authz-pg-'));
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  const passwordFile = join(dir, 'password');
  const password = randomBytes(18).toString('base64url');
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  if (user.asRoot) {
    chownSync(dir, user.uid, user.gid);
    chownSync(passwordFile, user.uid, user.gid);
  }
  const watcher = startWatcher(dir, data);

  const exec = async (file: string, args: readonly string[]): Promise<void> => {
    const [command, argv] = user.asRoot ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args];
    try {
      await run(command, argv, { cwd: dir });
    } catch (error) {
      const { stderr = '', stdout = '' } = error as { stderr?: string; stdout?: string };
      const serverLog = await readFile(log, 'utf8').catch(() => '');
      throw new Error(`${file} ${args.join(' ')} failed:\n${stdout}${stderr}${serverLog}`, { cause: error });
    }
  };

  try {
    await exec(bin.initdb, [
      '-D',
      data,
      '-U',
      SUPERUSER,
      '--auth=scram-sha-256',
      `--pwfile=${passwordFile}`,
      '--encoding=UTF8',
      '--locale=C',
      // Throw-away data: nothing needs to survive a power cut, so skip every flush to disk.
      '--no-sync',
    ]);
  } catch (error) {
    watcher.stop();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  const configure = (port: number): void => {
    writeFileSync(
      join(data, 'postgresql.auto.conf'),
      [
        `listen_addresses = '127.0.0.1'`,
        `port = ${port}`,
        `unix_socket_directories = '${dir}'`,
        // Throw-away data: a test database never has to survive an operating-system crash, and a
        // fast shutdown (stop()) still writes everything out, so the data survives stop/start.
        'fsync = off',
        'full_page_writes = off',
        'synchronous_commit = off',
        'shared_buffers = 16MB',
        'max_connections = 200',
        '',
      ].join('\n'),
    );
  };
  const pgCtl = (...args: string[]) => exec(bin.pgCtl, ['-D', data, '-w', '-t', '30', ...args]);
  const start = () => pgCtl('-l', log, 'start');
  const stop = () => pgCtl('-m', 'fast', 'stop');

  // Another process may take the free port before the server binds it: try a few.
  let port = 0;
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    configure(port);
    try {
      await start();
      break;
    } catch (error) {
      if (attempt === 3) {
        watcher.stop();
        await rm(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }

  const urlOf = (database: string) =>
    `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;

  const createDatabase = async (name: string): Promise<string> => {
    if (!DATABASE_NAME.test(name))
      throw new Error(`database name ${JSON.stringify(name)} is not [a-z_][a-z0-9_]*`);
    const client = new pg.Client({ connectionString: urlOf('postgres') });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE "${name}"`);
    } finally {
      await client.end();
    }
    return urlOf(name);
  };

  let destroyed = false;
  const url = await createDatabase(FIRST_DATABASE);
  return {
    url,
    port,
    stop,
    start,
    createDatabase,
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      if (existsSync(join(data, 'postmaster.pid'))) await pgCtl('-m', 'immediate', 'stop').catch(() => {});
      watcher.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
