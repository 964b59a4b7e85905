/**
 * A real crash: a child process writes through the store and is SIGKILLed at a step of the write.
 * The store is transpiled on the fly (no build needed) next to node_modules so `yaml` resolves.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdminStore } from '../../src/admin/store.js';
import { loadPolicies } from '../../src/policy/load.js';

const ROOT = resolve(import.meta.dirname, '../..');
const OUT = join(ROOT, 'node_modules/.cache/mtp-authz-store-crash');

beforeAll(() => {
  for (const file of [
    'src/admin/store.ts',
    'src/admin/resource-store.ts',
    'src/policy/types.ts',
    'src/decision/types.ts',
  ]) {
    const { outputText } = ts.transpileModule(readFileSync(join(ROOT, file), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    const out = join(OUT, file.replace(/\.ts$/, '.js'));
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, outputText);
  }
  writeFileSync(join(OUT, 'package.json'), '{"type":"module"}');
});

const CHILD = `
import { AdminStore } from './src/admin/store.js';
const [dir, killAt] = process.argv.slice(2);
const doc = (service) => ({
  type: 'MeshTrafficPermission', name: 'p', mesh: 'default',
  spec: { targetRef: { kind: 'MeshService', name: service }, from: [{ targetRef: { kind: 'Mesh' }, default: { action: 'Allow' } }] },
});
let armed = false;
const store = await AdminStore.open(dir, { onStep: (step) => { if (armed && step === killAt) process.kill(process.pid, 'SIGKILL'); } });
await store.put(doc('old'));
armed = true;
await store.put(doc('new'));
`;

function crashAt(step: 'temp-written' | 'renamed'): string {
  const dir = mkdtempSync(join(tmpdir(), 'mtp-authz-crash-'));
  const script = join(OUT, 'child.mjs');
  writeFileSync(script, CHILD);
  const child = spawnSync(process.execPath, [script, dir, step], { encoding: 'utf8' });
  expect(child.signal, child.stderr).toBe('SIGKILL');
  return dir;
}

async function target(dir: string): Promise<string | undefined> {
  const loaded = await loadPolicies([dir]);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  expect(loaded.set.policies).toHaveLength(1);
  return loaded.set.policies[0]?.targetRef.name;
}

describe('killed in the middle of a write', () => {
  it('between the temp write and the rename: the old policy loads, the temp file is cleaned at start-up', async () => {
    const dir = crashAt('temp-written');
    const mtpDir = join(dir, 'meshtrafficpermissions/default');
    expect(readdirSync(mtpDir).sort()).toEqual([expect.stringMatching(/^\.tmp-\d+-2-p\.yaml$/), 'p.yaml']);
    expect(await target(dir)).toBe('old');
    await AdminStore.open(dir);
    expect(readdirSync(mtpDir)).toEqual(['p.yaml']);
    expect(await target(dir)).toBe('old');
  });

  it('after the rename: the new policy loads', async () => {
    const dir = crashAt('renamed');
    expect(readdirSync(join(dir, 'meshtrafficpermissions/default'))).toEqual(['p.yaml']);
    expect(await target(dir)).toBe('new');
  });
});
