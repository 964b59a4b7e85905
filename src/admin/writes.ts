/**
 * The write side of the admin API (SPEC §7): PUT and DELETE of stored resources and
 * `POST /tokens/user`. Each attempt is answered and audited exactly once, whatever its outcome.
 *
 * A write runs authenticate → (writes enabled) → read and validate the body → [exclusive: look up
 * the current resource → authorize → 409 for operators' files → write the file] → reload → answer.
 * The exclusive part runs for one write at a time, so each one is checked against what is really
 * stored; the reload is not part of it, so writes arriving while a reload runs share the next one
 * (a reload reads every file: one per write would make each write as slow as all of them). Writes
 * to one resource stay serialized up to the end of their reload. When the shared reload fails on
 * a write's own file, that write is undone and answered 400; one whose file is fine waits for the
 * reload after the culprits are undone. Once the service drains, writes answer 503.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { formatIssue } from '../policy/errors.js';
import { sendJson } from '../http/router.js';
import { loadPolicyTexts } from '../policy/load.js';
import type { AccessKind } from '../policy/types.js';
import { DEFAULT_MESH, type MeshTrafficPermission, type PolicySet } from '../policy/types.js';
import type { ReloadOutcome } from '../policy/reload.js';
import type { AuditResult } from './audit.js';
import { BODY_FILE, type BodyResult, isPlainObject, parseBodyDocument, readRequestBody } from './body.js';
import { isBuiltin } from './builtins.js';
import {
  badRequest,
  conflict,
  invalidResource,
  notFound,
  type Problem,
  pathMismatch,
  problem,
  shuttingDown,
  storeUnavailable,
  tokensDisabled,
  unauthenticated,
  writesDisabled,
} from './problems.js';
import { authorize, authorizeWrite, denial, USER_TOKEN_TYPE } from './rbac.js';
import { findResource, type ManagedResource, toUniversal } from './resources.js';
import type { AdminContext } from './context.js';
import { ChangeRejected, type ResourceTransaction, StoreUnavailable } from './resource-store.js';
import { type StoredType, StoreError, type UniversalResource } from './store.js';
import { issueToken } from './tokens.js';
import { authenticate, type User } from './users.js';
import { parseTokenRequest } from './token-request.js';

/** What a write answers: a JSON body (problems included) or a text one (a token). */
interface Answer {
  readonly status: number;
  readonly json?: unknown;
  readonly text?: string;
  /** Close the connection after answering (the rest of an oversized body is not read). */
  readonly close?: boolean;
  /** The shared store's version of the committed write (`x-mtp-store-version`). */
  readonly storeVersion?: number;
}

/** The resource a PUT or DELETE names in its path; `mesh` only for MeshTrafficPermission. */
export interface Target {
  readonly type: StoredType;
  readonly mesh?: string;
  readonly name: string;
}

/** What the audit line says; filled in as the attempt gets further. */
interface Attempt {
  user: User | undefined;
  verb: AccessKind;
  readonly type: string;
  readonly mesh?: string;
  name?: string;
  result?: AuditResult;
}

/** The shared store's version of a committed write, on every 2xx PUT and DELETE answer. */
export const STORE_VERSION_HEADER = 'x-mtp-store-version';

const answerOf = (p: Problem, close?: boolean): Answer => ({ status: p.status, json: p, close });
const fromBody = (r: Extract<BodyResult<object>, { ok: false }>): Answer => answerOf(r.problem, r.close);

export class AdminWrites {
  readonly #ctx: AdminContext;
  #queue: Promise<void> = Promise.resolve();

  constructor(context: AdminContext) {
    this.#ctx = context;
  }

  put(req: IncomingMessage, res: ServerResponse, target: Target): Promise<void> {
    const attempt: Attempt = { user: undefined, verb: this.#exists(target) ? 'UPDATE' : 'CREATE', ...target };
    return this.#run(req, res, attempt, async () => {
      const user = await this.#authenticate(req, attempt);
      if (user === undefined) return answerOf(unauthenticated());
      const store = this.#ctx.store;
      if (store === undefined) return answerOf(writesDisabled());
      const body = await readRequestBody(req, this.#ctx.maxBodyBytes);
      if (!body.ok) return fromBody(body);
      const doc = parseBodyDocument(body.text, body.format);
      if (!doc.ok) return fromBody(doc);
      const mismatch = checkAgainstPath(doc.value, target);
      if (mismatch !== undefined) return answerOf(mismatch);
      const validated = loadPolicyTexts([{ file: BODY_FILE, text: body.text }], {
        maxFileBytes: this.#ctx.maxBodyBytes,
      });
      if (!validated.ok) return answerOf(invalidResource(validated.errors));
      const proposed = findResource(validated.set, target.type, target.mesh, target.name);
      const document = { ...(doc.value as Record<string, unknown>), ...target } as UniversalResource;
      return this.#exclusive(target, async (tx, release) => {
        const set = this.#set();
        const existing = findResource(set, target.type, target.mesh, target.name);
        const previous = await tx.read();
        const verb = existing !== undefined || previous !== undefined ? 'UPDATE' : 'CREATE';
        attempt.verb = verb;
        const stored = existing ?? storedResource(tx.file, previous, target);
        if (!this.#authorizeWrite(set, user, verb, target, stored, proposed)) return answerOf(denial(user));
        if (existing !== undefined && !isBuiltin(existing) && !tx.holds(existing.source.file))
          return answerOf(conflict(existing.source.file));
        const { version } = await tx.put(document);
        release();
        const failed = await this.#reloadOrUndo(tx, previous, `${verb} ${describe(target)}`);
        if (failed !== undefined) return failed;
        const served = findResource(this.#set(), target.type, target.mesh, target.name);
        return {
          status: verb === 'CREATE' ? 201 : 200,
          json: served === undefined ? document : toUniversal(served),
          ...(version === undefined ? {} : { storeVersion: version }),
        };
      });
    });
  }

  delete(req: IncomingMessage, res: ServerResponse, target: Target): Promise<void> {
    const attempt: Attempt = { user: undefined, verb: 'DELETE', ...target };
    return this.#run(req, res, attempt, async () => {
      const user = await this.#authenticate(req, attempt);
      if (user === undefined) return answerOf(unauthenticated());
      if (this.#ctx.store === undefined) return answerOf(writesDisabled());
      return this.#exclusive(target, async (tx, release) => {
        const set = this.#set();
        const existing = findResource(set, target.type, target.mesh, target.name);
        const previous = await tx.read();
        if (existing === undefined && previous === undefined)
          return answerOf(notFound(target.type, target.name, target.mesh));
        const stored = existing ?? storedResource(tx.file, previous, target);
        if (!this.#authorizeWrite(set, user, 'DELETE', target, stored, undefined))
          return answerOf(denial(user));
        // A built-in cannot be deleted (it is back as soon as nothing redefines it).
        if (existing !== undefined && (isBuiltin(existing) || !tx.holds(existing.source.file)))
          return answerOf(conflict(existing.source.file));
        const { version } = await tx.delete();
        release();
        const failed = await this.#reloadOrUndo(tx, previous, `DELETE ${describe(target)}`);
        return (
          failed ?? { status: 200, json: {}, ...(version === undefined ? {} : { storeVersion: version }) }
        );
      });
    });
  }

  /** `POST /tokens/user` with `{"name", "groups", "validFor"}`: the token as text/plain. */
  token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const attempt: Attempt = { user: undefined, verb: 'GENERATE_USER_TOKEN', type: USER_TOKEN_TYPE };
    return this.#run(req, res, attempt, async () => {
      const user = await this.#authenticate(req, attempt);
      if (user === undefined) return answerOf(unauthenticated());
      const key = this.#ctx.signingKey;
      if (key === undefined) return answerOf(tokensDisabled());
      const body = await readRequestBody(req, this.#ctx.maxBodyBytes);
      if (!body.ok) return fromBody(body);
      const doc = parseBodyDocument(body.text, body.format);
      if (!doc.ok) return fromBody(doc);
      const request = parseTokenRequest(doc.value, this.#ctx.maxTokenLifetimeSeconds);
      if (!request.ok) return answerOf(request.problem);
      attempt.name = request.name;
      const allowed = authorize(
        { user, verb: 'GENERATE_USER_TOKEN', type: USER_TOKEN_TYPE, name: request.name },
        this.#rbac(this.#set()),
      );
      if (!allowed) return answerOf(denial(user));
      const token = await issueToken(key, request);
      return { status: 200, text: `${token}\n` };
    });
  }

  /** Answers, audits and logs one attempt; an unexpected error is a 500, still audited. */
  async #run(req: IncomingMessage, res: ServerResponse, attempt: Attempt, work: () => Promise<Answer>) {
    let answer: Answer;
    try {
      answer = await work();
    } catch (error) {
      answer = this.#answerFailure(req, error);
    }
    this.#ctx.audit({
      user: attempt.user,
      verb: attempt.verb,
      type: attempt.type,
      ...(attempt.mesh === undefined ? {} : { mesh: attempt.mesh }),
      ...(attempt.name === undefined ? {} : { name: attempt.name }),
      status: answer.status,
    });
    send(res, answer);
  }

  /** A write that threw: a name the store refuses (400), a change that would not load (400), a store out of reach (503). */
  #answerFailure(req: IncomingMessage, error: unknown): Answer {
    if (error instanceof StoreError) return answerOf(badRequest(error.message));
    if (error instanceof ChangeRejected)
      return answerOf(badRequest(error.message, error.issues.map(formatIssue)));
    if (error instanceof StoreUnavailable) {
      this.#ctx.log?.warn(
        { reason: error.reason, method: req.method, url: req.url },
        'admin write refused: policy store unavailable',
      );
      return answerOf(storeUnavailable(error.reason));
    }
    this.#ctx.log?.error({ err: error, method: req.method, url: req.url }, 'admin write failed');
    return answerOf(problem(500, 'Internal Server Error', 'the write failed; see the server log'));
  }

  async #authenticate(req: IncomingMessage, attempt: Attempt): Promise<User | undefined> {
    const result = await authenticate(
      {
        headers: req.headers,
        ...(req.socket.remoteAddress === undefined ? {} : { remoteAddress: req.socket.remoteAddress }),
      },
      this.#ctx.authentication,
    );
    if (!result.ok) {
      this.#ctx.log?.info(
        { reason: result.reason, method: req.method, url: req.url },
        'admin request not authenticated',
      );
      return undefined;
    }
    attempt.user = result.user;
    return result.user;
  }

  /**
   * Runs `fn` with the resource's file locked, once every earlier write has written its file (or
   * finished); `fn` calls `release` when the next write may start. A write still queued when the
   * drain begins answers 503.
   */
  #exclusive(
    target: Target,
    fn: (tx: ResourceTransaction, release: () => void) => Promise<Answer>,
  ): Promise<Answer> {
    const store = this.#ctx.store;
    if (store === undefined) return Promise.resolve(answerOf(writesDisabled()));
    let release = (): void => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const run = this.#queue.then(() =>
      this.#ctx.state.draining
        ? answerOf(shuttingDown())
        : store.withResource(target.type, target.mesh, target.name, (tx) => fn(tx, release)),
    );
    const finished = run.then(
      () => undefined,
      () => undefined,
    );
    this.#queue = Promise.race([released, finished]);
    return run;
  }

  /**
   * Read-your-writes: waits for a load that started after the write. When that load fails, the
   * file is put back as it was and the violations are answered (400; 500 when the load threw).
   */
  async #reloadOrUndo(
    tx: ResourceTransaction,
    previous: string | undefined,
    what: string,
  ): Promise<Answer | undefined> {
    let outcome: ReloadOutcome = await this.#ctx.reloader.reload(`admin API: ${what}`);
    // A shared reload that failed on other files only: their writes undo themselves and reload.
    for (let retry = 0; retry < 3 && !outcome.ok && !outcome.stopped && !blames(outcome, tx); retry++)
      outcome = await this.#ctx.reloader.reload(`admin API: ${what}`);
    if (outcome.ok) return undefined;
    await tx.undo(previous);
    if (outcome.stopped === true) return answerOf(shuttingDown());
    await this.#ctx.reloader.reload(`admin API: undo ${what}`);
    if (outcome.errors.length === 0)
      return answerOf(
        problem(500, 'Internal Server Error', `the policies could not be reloaded; ${what} was undone`),
      );
    const n = outcome.errors.length;
    return answerOf(
      badRequest(
        `the policies do not load with this change (${n} violation${n === 1 ? '' : 's'}); ${what} was undone`,
        outcome.errors.map(formatIssue),
      ),
    );
  }

  #authorizeWrite(
    set: PolicySet,
    user: User,
    verb: 'CREATE' | 'UPDATE' | 'DELETE',
    target: Target,
    stored: ManagedResource | undefined,
    proposed: ManagedResource | undefined,
  ): boolean {
    const stored_ = asMtp(stored);
    const proposed_ = asMtp(proposed);
    return authorizeWrite(
      {
        user,
        verb,
        type: target.type,
        ...(target.mesh === undefined ? {} : { mesh: target.mesh }),
        name: target.name,
        ...(stored_ === undefined ? {} : { stored: stored_ }),
        ...(proposed_ === undefined ? {} : { proposed: proposed_ }),
      },
      this.#rbac(set),
    );
  }

  #rbac(set: PolicySet) {
    return {
      roles: set.accessRoles,
      bindings: set.accessRoleBindings,
      accessType: this.#ctx.accessType,
      ...(this.#ctx.defaultBinding === undefined ? {} : { defaultBinding: this.#ctx.defaultBinding }),
    };
  }

  #set(): PolicySet {
    const snapshot = this.#ctx.state.current;
    if (snapshot === undefined) throw new Error('no policy set loaded');
    return snapshot.set;
  }

  #exists(target: Target): boolean {
    const set = this.#ctx.state.current?.set;
    return set !== undefined && findResource(set, target.type, target.mesh, target.name) !== undefined;
  }
}

/** True when a failed reload names the transaction's own resource among its violations. */
function blames(outcome: Extract<ReloadOutcome, { ok: false }>, tx: ResourceTransaction): boolean {
  return outcome.errors.some((issue) => tx.holds(issue.file));
}

function send(res: ServerResponse, answer: Answer): void {
  const headers: Record<string, string> = answer.close ? { connection: 'close' } : {};
  if (answer.storeVersion !== undefined) headers[STORE_VERSION_HEADER] = String(answer.storeVersion);
  if (answer.text === undefined) {
    sendJson(res, answer.status, answer.json ?? {}, headers);
    return;
  }
  res.writeHead(answer.status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(answer.text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(answer.text);
}

function describe(target: Target): string {
  const where = target.mesh === undefined ? '' : ` in mesh "${target.mesh}"`;
  return `${target.type} "${target.name}"${where}`;
}

/** The body's `type`, `name` and `mesh` against the path (a missing `mesh` is `default`). */
export function checkAgainstPath(value: unknown, target: Target): Problem | undefined {
  if (!isPlainObject(value))
    return badRequest('request body must be an object: one resource in the Universal form');
  if (value.type === undefined && (value.kind !== undefined || value.apiVersion !== undefined)) {
    return badRequest(
      'request body must be in the Universal form (type, name, mesh), not the Kubernetes form',
    );
  }
  if (value.type !== target.type) return pathMismatch('type', value.type, target.type);
  if (value.name !== target.name) return pathMismatch('name', value.name, target.name);
  if (target.mesh !== undefined) {
    if ((value.mesh ?? DEFAULT_MESH) !== target.mesh) return pathMismatch('mesh', value.mesh, target.mesh);
  } else if (value.mesh !== undefined) {
    return badRequest(
      `mesh ${JSON.stringify(value.mesh)} in the body: ${target.type} is global, not bound to a mesh`,
    );
  }
  return undefined;
}

/** The stored file of a resource the serving set lacks (its last load failed), if it still validates. */
function storedResource(file: string, text: string | undefined, target: Target): ManagedResource | undefined {
  if (text === undefined) return undefined;
  const loaded = loadPolicyTexts([{ file, text }]);
  return loaded.ok ? findResource(loaded.set, target.type, target.mesh, target.name) : undefined;
}

function asMtp(resource: ManagedResource | undefined): MeshTrafficPermission | undefined {
  return resource?.type === 'MeshTrafficPermission' ? resource : undefined;
}
