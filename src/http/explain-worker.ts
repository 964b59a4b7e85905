/**
 * Explain thread: answers `POST /explain` away from the event loop that answers Checks. It keeps
 * its own compiled copy of the policy set it was last sent (compiled once per generation), so a
 * slow or hostile explanation costs this thread's time only.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { compilePolicySet } from '../policy/compile.js';
import type { PolicySet } from '../policy/types.js';
import type { DecisionTable } from '../decision/table.js';
import { answerExplain, type ExplainAnswer, type ExplainLimits } from './explain-request.js';

export type ExplainJob =
  | { readonly kind: 'policies'; readonly generation: number; readonly set: PolicySet }
  | {
      readonly kind: 'explain';
      readonly id: number;
      /** The request body, transferred (not copied) to this thread and decoded here. */
      readonly body: Uint8Array;
      readonly limits: ExplainLimits;
    };

export interface ExplainReply {
  readonly id: number;
  readonly answer: ExplainAnswer;
}

let table: DecisionTable | undefined;

/**
 * On Linux a thread has its own nice value: this one takes the lowest priority, so that on a busy
 * machine an explanation waits for the CPU rather than the Checks of the main thread.
 * `/proc/thread-self` names this thread's id; elsewhere the thread keeps the process's priority.
 */
function lowerThisThreadsPriority(): void {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isSafeInteger(tid) && tid > 0) setPriority(tid, 19);
  } catch {
    // Not Linux, or not permitted: the thread keeps the process's priority.
  }
}
lowerThisThreadsPriority();

parentPort?.on('message', (job: ExplainJob) => {
  if (job.kind === 'policies') {
    table = compilePolicySet(job.set, { generation: job.generation });
    return;
  }
  let answer: ExplainAnswer;
  try {
    answer =
      table === undefined
        ? { status: 503, body: { status: 503, title: 'Service Unavailable', detail: 'no policy set loaded' } }
        : answerExplain(table, job.body, job.limits);
  } catch {
    answer = {
      status: 500,
      body: { status: 500, title: 'Internal Server Error', detail: 'the request failed' },
    };
  }
  parentPort?.postMessage({ id: job.id, answer } satisfies ExplainReply);
});
