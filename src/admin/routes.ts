/**
 * The admin API of SPEC §7.1 as a route table for the HTTP port. Reads are open and answer the
 * serving policy set in the Universal form, built-ins included; writes (src/admin/writes.ts) are
 * authenticated, authorized by RBAC, audited, persisted under `--admin-state-dir` and answered
 * once the new policy set serves.
 *
 * A read carrying an `Authorization` header that does not verify is refused (401), as Kong Mesh's
 * API server does: bad credentials are an error wherever they are sent.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AdminContext } from './context.js';
import type { Route } from '../http/router.js';
import { sendJson } from '../http/router.js';
import { MAX_ADMIN_BODY_BYTES } from './body.js';
import { notFound, problem, unauthenticated } from './problems.js';
import { findResource, listResources, toUniversal } from './resources.js';
import type { StoredType } from './store.js';
import { authenticate } from './users.js';
import { AdminWrites, type Target } from './writes.js';

export type { AdminContext } from './context.js';

interface Kind {
  readonly type: StoredType;
  readonly collection: string;
  readonly label: string;
}

const KINDS: readonly Kind[] = [
  {
    type: 'MeshTrafficPermission',
    collection: '/meshes/{mesh}/meshtrafficpermissions',
    label: 'MeshTrafficPermissions of a mesh',
  },
  { type: 'AccessRole', collection: '/access-roles', label: 'AccessRoles' },
  { type: 'AccessRoleBinding', collection: '/access-role-bindings', label: 'AccessRoleBindings' },
];

export function createAdminRoutes(context: AdminContext): Route[] {
  const ctx: AdminContext = { ...context, maxBodyBytes: context.maxBodyBytes ?? MAX_ADMIN_BODY_BYTES };
  const writes = new AdminWrites(ctx);
  const routes: Route[] = [];
  for (const kind of KINDS) {
    const item = `${kind.collection}/{name}`;
    const target = (params: Readonly<Record<string, string>>): Target => ({
      type: kind.type,
      ...(params.mesh === undefined ? {} : { mesh: params.mesh }),
      name: params.name ?? '',
    });
    routes.push(
      {
        method: 'GET',
        path: kind.collection,
        help: `List ${kind.label}: {"total", "items", "next"} (open)`,
        handle: (req, res, params) => readRoute(ctx, req, res, () => list(ctx, res, kind.type, params.mesh)),
      },
      {
        method: 'GET',
        path: item,
        help: `One ${kind.type} in the Universal form (open)`,
        handle: (req, res, params) => readRoute(ctx, req, res, () => get(ctx, res, target(params))),
      },
      {
        method: 'PUT',
        path: item,
        help: `Create (201) or replace (200) a ${kind.type}; JSON or YAML body (RBAC: CREATE / UPDATE)`,
        handle: (req, res, params) => writes.put(req, res, target(params)),
      },
      {
        method: 'DELETE',
        path: item,
        help: `Delete a ${kind.type} written through the API (RBAC: DELETE)`,
        handle: (req, res, params) => writes.delete(req, res, target(params)),
      },
    );
  }
  routes.push({
    method: 'POST',
    path: '/tokens/user',
    help: 'Issue a user token: {"name", "groups", "validFor"} → text/plain (RBAC: GENERATE_USER_TOKEN)',
    handle: (req, res) => writes.token(req, res),
  });
  const { onRequest } = ctx;
  return onRequest === undefined ? routes : routes.map((route) => counted(route, onRequest));
}

/** Counts each answered request by method and status, whoever answered it (a 500 included). */
function counted(route: Route, onRequest: (method: string, code: number) => void): Route {
  return {
    ...route,
    handle(req, res, params) {
      res.once('close', () => {
        if (res.headersSent) onRequest(req.method ?? route.method, res.statusCode);
      });
      return route.handle(req, res, params);
    },
  };
}

async function readRoute(ctx: AdminContext, req: IncomingMessage, res: ServerResponse, answer: () => void) {
  if (req.headers.authorization !== undefined) {
    const auth = await authenticate({ headers: req.headers }, ctx.authentication);
    if (!auth.ok) {
      sendJson(res, 401, unauthenticated());
      return;
    }
  }
  if (ctx.state.current === undefined) {
    sendJson(res, 503, problem(503, 'Service Unavailable', 'no policy set loaded'));
    return;
  }
  answer();
}

function list(ctx: AdminContext, res: ServerResponse, type: StoredType, mesh: string | undefined): void {
  const set = ctx.state.current?.set;
  const items = set === undefined ? [] : listResources(set, type, mesh, ctx.defaultBinding).map(toUniversal);
  sendJson(res, 200, { total: items.length, items, next: null });
}

function get(ctx: AdminContext, res: ServerResponse, target: Target): void {
  const set = ctx.state.current?.set;
  const found = set && findResource(set, target.type, target.mesh, target.name, ctx.defaultBinding);
  if (found === undefined) sendJson(res, 404, notFound(target.type, target.name, target.mesh));
  else sendJson(res, 200, toUniversal(found));
}
