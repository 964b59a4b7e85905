/**
 * Who may write through the admin API of a real `serve`: by default not an unauthenticated caller
 * (Kong Mesh's binding only on request), and the start-up log says so, with a warning when anyone may.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, REPO, spawnServe } from '../support/server.js';

beforeAll(() => ensureBuilt());

const WARN = 40;
const INFO = 30;

function start(...flags: string[]) {
  const stateDir = mkdtempSync(join(tmpdir(), 'mtp-writers-'));
  const server = spawnServe([
    '--policies',
    join(REPO, 'examples/policies'),
    '--grpc-address',
    '127.0.0.1:0',
    '--http-address',
    '127.0.0.1:0',
    '--admin-state-dir',
    stateDir,
    ...flags,
  ]);
  return server;
}

async function writersLine(...flags: string[]) {
  const server = start(...flags);
  try {
    return await server.waitForLog((l) => l.msg.startsWith('admin writes'), 20_000);
  } finally {
    server.kill('SIGTERM');
    await server.exited;
  }
}

/** An anonymous PUT (not the localhost admin: it names a proxy) → status and body. */
async function anonymousPut(...flags: string[]) {
  const server = start(...flags);
  try {
    const http = await server.waitForLog((l) => l.msg === 'listening' && l.listener === 'http', 20_000);
    await server.waitForLog((l) => l.msg.startsWith('admin writes'), 20_000);
    const answer = await fetch(`http://127.0.0.1:${String(http.port)}/access-roles/anyone`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.7' },
      body: JSON.stringify({ type: 'AccessRole', name: 'anyone', rules: [{ access: ['CREATE'] }] }),
    });
    return { status: answer.status, body: await answer.text() };
  } finally {
    server.kill('SIGTERM');
    await server.exited;
  }
}

describe('the start-up line on admin writes', () => {
  it('by default: authenticated callers only', async () => {
    const line = await writersLine();
    expect(line.level).toBe(INFO);
    expect(line.msg).toBe(
      'admin writes: authenticated callers (the localhost admin) through the built-in binding default, and whoever other AccessRoleBindings name',
    );
  });

  it("with Kong Mesh's binding: a warning that unauthenticated callers may write", async () => {
    const line = await writersLine('--admin-default-binding=kong-mesh');
    expect(line.level).toBe(WARN);
    expect(line.msg).toMatch(/; UNAUTHENTICATED callers may write through binding default$/);
    expect(line.openBindings).toEqual(['default']);
  });

  it("an unauthenticated write is 403 by default, 201 with Kong Mesh's binding", async () => {
    expect(await anonymousPut()).toEqual({
      status: 403,
      body: '{"status":403,"title":"Access Denied","detail":"user \\"mesh-system:anonymous/mesh-system:unauthenticated\\" cannot access the resource"}\n',
    });
    expect((await anonymousPut('--admin-default-binding=kong-mesh')).status).toBe(201);
  });
});
