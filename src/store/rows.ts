/**
 * Rows of `mtp_authz_resources` ↔ the resources and virtual files of the mirror. A row's key is
 * checked like a state-directory file name: a row written by hand with a name that could not be
 * stored through the API is skipped (and logged), never loaded under a name nobody can address.
 */
import type { ClientBase } from 'pg';
import { resourcePath, StoreError } from '../admin/store.js';
import { DEFAULT_MESH } from '../policy/types.js';
import { type StoreChange, VIRTUAL_FILE_PREFIX } from './mirror.js';

/** The primary key: `mesh` is '' for the global types (AccessRole, AccessRoleBinding). */
export interface ResourceKey {
  readonly type: string;
  readonly mesh: string;
  readonly name: string;
}

/** The key and virtual file of a resource; throws StoreError for a type, name or mesh that cannot be stored. */
export function keyOf(
  type: string,
  mesh: string | undefined,
  name: string,
): { key: ResourceKey; file: string } {
  const path = resourcePath(type, mesh, name);
  const keyMesh = type === 'MeshTrafficPermission' ? (mesh ?? DEFAULT_MESH) : '';
  return { key: { type, mesh: keyMesh, name }, file: `${VIRTUAL_FILE_PREFIX}${path}` };
}

interface Row {
  readonly type: string;
  readonly mesh: string;
  readonly name: string;
  readonly body: string | null;
  readonly version: string;
}

/** Rows whose key could not have been written by the API; reported once per read. */
export type SkippedRows = (skipped: readonly { key: ResourceKey; reason: string }[]) => void;

function toChanges(rows: readonly Row[], onSkipped?: SkippedRows): StoreChange[] {
  const changes: StoreChange[] = [];
  const skipped: { key: ResourceKey; reason: string }[] = [];
  for (const row of rows) {
    const key = { type: row.type, mesh: row.mesh, name: row.name };
    try {
      const mesh = row.type === 'MeshTrafficPermission' ? row.mesh : undefined;
      if (mesh === undefined && row.mesh !== '')
        throw new StoreError('invalid-mesh', `${row.type} is global`);
      const { file } = keyOf(row.type, mesh, row.name);
      changes.push({ file, text: row.body ?? undefined, version: Number(row.version) });
    } catch (error) {
      if (!(error instanceof StoreError)) throw error;
      skipped.push({ key, reason: error.message });
    }
  }
  if (skipped.length > 0) onSkipped?.(skipped);
  return changes;
}

/** Every change committed after `version`, tombstones included, in commit order. */
export async function readChanges(
  client: ClientBase,
  version: number,
  onSkipped?: SkippedRows,
): Promise<StoreChange[]> {
  const result = await client.query<Row>(
    `SELECT type, mesh, name, body, version FROM mtp_authz_resources
     WHERE version > $1 ORDER BY version`,
    [version],
  );
  return toChanges(result.rows, onSkipped);
}

/** The live resources and the version they are at, read in one snapshot. */
export async function readAll(
  client: ClientBase,
  onSkipped?: SkippedRows,
): Promise<{ version: number; changes: StoreChange[] }> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const meta = await client.query<{ value: string }>(
      "SELECT value FROM mtp_authz_meta WHERE key = 'store_version'",
    );
    const rows = await client.query<Row>(
      'SELECT type, mesh, name, body, version FROM mtp_authz_resources WHERE body IS NOT NULL',
    );
    await client.query('COMMIT');
    return { version: Number(meta.rows[0]?.value ?? 0), changes: toChanges(rows.rows, onSkipped) };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
