/**
 * The explain thread, as the built service runs it (dist/, where the worker file exists): its
 * answers are those of the in-line evaluation, it follows the generation it is given, and it
 * bounds both time (an explanation over the budget is answered 422 and the thread replaced) and
 * how many explanations may wait (429).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { compileTables } from '../../src/policy/compile.js';
import { answerExplain } from '../../src/http/explain-request.js';
import type { ExplainThread as ExplainThreadType } from '../../src/http/explain-thread.js';
import { mesh, mtp, policySet, service } from '../support/policies.js';
import { ensureBuilt, REPO } from '../support/server.js';

type ThreadClass = typeof ExplainThreadType;
let ExplainThread: ThreadClass;

beforeAll(async () => {
  ensureBuilt();
  ({ ExplainThread } = (await import(`${REPO}/dist/http/explain-thread.js`)) as {
    ExplainThread: ThreadClass;
  });
});

const ALLOW = policySet([mtp('allow-web', service('backend'), [[service('web'), 'Allow']])]);
const DENY = policySet([mtp('deny-all', mesh(), [[mesh(), 'Deny']])]);
const policiesOf = (set: typeof ALLOW, generation: number) => ({
  generation,
  set,
  table: compileTables(set, generation).table,
});
/** A body in a buffer of its own: the thread takes it over. */
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const request = (sans: string[]) =>
  JSON.stringify({ destinationTags: { 'kuma.io/service': 'backend' }, clientSans: sans });

describe('explain thread', () => {
  it('answers what the in-line evaluation answers, for the generation it is given', async () => {
    const thread = new ExplainThread();
    try {
      const allow = policiesOf(ALLOW, 1);
      const text = request(['spiffe://default/web']);
      const first = await thread.explain(bytes(text), allow);
      expect(first).toEqual(answerExplain(allow.table, text));
      expect(first.body).toMatchObject({ action: 'Allow', decidedBy: { policy: 'allow-web' } });

      const deny = policiesOf(DENY, 2);
      expect((await thread.explain(bytes(text), deny)).body).toMatchObject({
        action: 'Deny',
        policies: ['deny-all'],
      });
      const tooMany = request(Array.from({ length: 257 }, (_, i) => `spiffe://default/s${i}`));
      expect(await thread.explain(bytes(tooMany), deny)).toEqual(answerExplain(deny.table, tooMany));
      expect((await thread.explain(bytes(tooMany), deny)).body).toMatchObject({ via: 'invalid-identity' });
      const manyTags = JSON.stringify({
        destinationTags: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`t${i}`, 'x'])),
      });
      expect(await thread.explain(bytes(manyTags), deny)).toEqual(answerExplain(deny.table, manyTags));
      expect((await thread.explain(bytes(manyTags), deny)).status).toBe(422);
      // The body is decoded on the thread: invalid UTF-8 is still a 400.
      expect(await thread.explain(Uint8Array.of(0x7b, 0xc3, 0x28, 0x7d), deny)).toEqual({
        status: 400,
        body: { status: 400, title: 'Bad Request', detail: 'request body is not valid UTF-8' },
      });
    } finally {
      thread.close();
    }
  });

  it('answers 422 past its time budget, then serves again on a new thread', async () => {
    // No answer can come within 1 ms: starting a thread and compiling alone take longer.
    const thread = new ExplainThread({ budgetMs: 1 });
    const text = request(['spiffe://default/web']);
    try {
      expect(await thread.explain(bytes(text), policiesOf(ALLOW, 1))).toEqual({
        status: 422,
        body: {
          status: 422,
          title: 'Unprocessable Content',
          detail: 'the request is too complex to explain within 0.001 s',
        },
      });
    } finally {
      thread.close();
    }
    const patient = new ExplainThread({ budgetMs: 10_000 });
    try {
      expect((await patient.explain(bytes(text), policiesOf(ALLOW, 1))).status).toBe(200);
    } finally {
      patient.close();
    }
  });

  it('answers 429 when too many explanations are already waiting', async () => {
    const thread = new ExplainThread({ maxPending: 2 });
    const text = request(['spiffe://default/web']);
    const policies = policiesOf(ALLOW, 1);
    try {
      const answers = await Promise.all([1, 2, 3].map(() => thread.explain(bytes(text), policies)));
      expect(answers.map((a) => a.status)).toEqual([200, 200, 429]);
      expect(answers[2]?.body).toEqual({
        status: 429,
        title: 'Too Many Requests',
        detail: '2 explanations are already running; retry later',
      });
    } finally {
      thread.close();
    }
  });
});
