/**
 * The admin routes in-process: operators' files in a temp directory, the store under another,
 * a real Reloader (loading on this thread, no file watching: writes reload explicitly), the HTTP
 * listener on an ephemeral port, and recorders for audit lines and request counts.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type AuditLine, createAuditLog } from '../../src/admin/audit.js';
import { builtinDefaultBinding } from '../../src/admin/builtins.js';
import type { AccessType } from '../../src/admin/rbac.js';
import { createAdminRoutes } from '../../src/admin/routes.js';
import { AdminStore } from '../../src/admin/store.js';
import { issueToken, type SigningKey, signingKeyFromBytes, tokenVerifier } from '../../src/admin/tokens.js';
import { startHttpServer } from '../../src/http/server.js';
import { createLogger } from '../../src/observability/log.js';
import { compileTables } from '../../src/policy/compile.js';
import { loadPolicies } from '../../src/policy/load.js';
import { Reloader } from '../../src/policy/reload.js';
import type { AdminDefaultBinding } from '../../src/settings/settings.js';
import { ServiceState, type Snapshot } from '../../src/authz/state.js';
import { servingState } from '../support/state.js';

export const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long';
export const KEY: SigningKey = signingKeyFromBytes('test-key', Buffer.from(SECRET));

export interface HarnessOptions {
  /** Operators' files: relative path → content. */
  readonly files?: Record<string, string>;
  /** false: no `--admin-state-dir` (writes answer 501). */
  readonly store?: boolean;
  /** null: no `--token-signing-key`. */
  readonly key?: SigningKey | null;
  readonly localhostIsAdmin?: boolean;
  readonly accessType?: AccessType;
  /**
   * `--admin-default-binding`. The write-mechanics tests run as the anonymous user, so this
   * harness defaults to Kong Mesh's binding; tests of the secure default pass 'authenticated'.
   */
  readonly defaultBinding?: AdminDefaultBinding;
}

export interface Reply {
  readonly status: number;
  readonly contentType: string | null;
  readonly text: string;
  /** The parsed JSON body (undefined when it is not JSON). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read answers field by field.
  readonly body: any;
}

export interface RequestOptions {
  readonly body?: string | object;
  /** Defaults to application/json for an object body, application/yaml for a string. */
  readonly contentType?: string | null;
  readonly token?: string;
  readonly headers?: Record<string, string>;
}

export interface Harness {
  readonly base: string;
  readonly opsDir: string;
  readonly stateDir: string;
  readonly state: ServiceState;
  readonly audits: AuditLine[];
  readonly counted: [string, number][];
  /** Every snapshot published after start-up, in order. */
  readonly snapshots: Snapshot[];
  request(method: string, path: string, options?: RequestOptions): Promise<Reply>;
  writeOpsFile(relative: string, content: string): void;
  close(): Promise<void>;
}

export async function startAdmin(options: HarnessOptions = {}): Promise<Harness> {
  const root = mkdtempSync(join(tmpdir(), 'mtp-admin-routes-'));
  const opsDir = join(root, 'ops');
  const stateDir = join(root, 'state');
  mkdirSync(opsDir);
  const writeOpsFile = (relative: string, content: string): void => {
    const file = join(opsDir, relative);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
  };
  for (const [relative, content] of Object.entries(options.files ?? {})) writeOpsFile(relative, content);

  const withStore = options.store ?? true;
  const store = withStore ? await AdminStore.open(stateDir) : undefined;
  const paths = withStore ? [opsDir, stateDir] : [opsDir];
  const loaded = await loadPolicies(paths);
  if (!loaded.ok) throw new Error(`fixture policies do not load: ${JSON.stringify(loaded.errors)}`);
  const state = servingState(loaded.set, loaded.files);
  const snapshots: Snapshot[] = [];
  state.subscribe((s) => {
    if (s.current !== undefined && snapshots.at(-1) !== s.current) snapshots.push(s.current);
  });
  const log = createLogger('silent');
  const reloader = new Reloader({
    paths,
    state,
    log,
    load: (p) => loadPolicies(p),
    compile: compileTables,
    resyncIntervalMs: 0,
  });
  const audits: AuditLine[] = [];
  const counted: [string, number][] = [];
  const key = options.key === undefined ? KEY : options.key;
  const routes = createAdminRoutes({
    state,
    reloader,
    ...(store === undefined ? {} : { store }),
    ...(key === null ? {} : { signingKey: key }),
    authentication: {
      localhostIsAdmin: options.localhostIsAdmin ?? false,
      ...(key === null ? {} : { verifier: tokenVerifier(key) }),
    },
    accessType: options.accessType ?? 'rbac',
    defaultBinding: builtinDefaultBinding(options.defaultBinding ?? 'kong-mesh'),
    audit: createAuditLog((line) => audits.push(JSON.parse(line) as AuditLine)),
    log,
    onRequest: (method, code) => counted.push([method, code]),
  });
  const http = await startHttpServer(state, { host: '127.0.0.1', port: 0 }, routes);
  const base = `http://127.0.0.1:${http.port}`;

  return {
    base,
    opsDir,
    stateDir,
    state,
    audits,
    counted,
    snapshots,
    writeOpsFile,
    async request(method, path, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers };
      let body: string | undefined;
      if (opts.body !== undefined) {
        body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
        const type =
          opts.contentType === undefined
            ? typeof opts.body === 'string'
              ? 'application/yaml'
              : 'application/json'
            : opts.contentType;
        if (type !== null) headers['content-type'] = type;
      }
      if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
      const res = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      return { status: res.status, contentType: res.headers.get('content-type'), text, body: parsed };
    },
    async close() {
      reloader.stop();
      await http.close();
    },
  };
}

/** A token for `name` in `groups`, signed with the harness key unless another is given. */
export function tokenFor(name: string, groups: string[] = [], key: SigningKey = KEY, validForSeconds = 3600) {
  return issueToken(key, { name, groups, validForSeconds });
}

/** A MeshTrafficPermission in the Universal form, as a plain object. */
export function mtpDoc(
  name: string,
  target: string,
  fields: { mesh?: string; from?: string; action?: string; labels?: Record<string, string> } = {},
): Record<string, unknown> {
  return {
    type: 'MeshTrafficPermission',
    name,
    mesh: fields.mesh ?? 'default',
    ...(fields.labels === undefined ? {} : { labels: fields.labels }),
    spec: {
      targetRef: { kind: 'MeshService', name: target },
      from: [
        {
          targetRef:
            fields.from === undefined ? { kind: 'Mesh' } : { kind: 'MeshService', name: fields.from },
          default: { action: fields.action ?? 'Allow' },
        },
      ],
    },
  };
}

export const mtpPath = (name: string, mesh = 'default') => `/meshes/${mesh}/meshtrafficpermissions/${name}`;

export { WALKTHROUGH_RBAC_YAML as WALKTHROUGH_RBAC } from '../support/policy-yaml.js';
