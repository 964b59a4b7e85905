/**
 * Loader thread: reads, parses and validates policy files away from the event loop that answers
 * Checks, and posts each LoadResult (plain data) back. It lives as long as the service and keeps
 * a ParseCache, so a reload re-parses only the files that changed.
 */
import { parentPort } from 'node:worker_threads';
import { type LoadOptions, loadPolicies, ParseCache, type PolicyText } from './load.js';

export interface LoadJob {
  readonly id: number;
  readonly paths: readonly string[];
  readonly options: Partial<LoadOptions>;
  /** In-memory documents loaded with the files (the shared store's resources). */
  readonly texts?: readonly PolicyText[];
}

const cache = new ParseCache();

parentPort?.on('message', (job: LoadJob) => {
  void loadPolicies(job.paths, job.options, cache, job.texts).then(
    (result) => parentPort?.postMessage({ id: job.id, result }),
    (error: unknown) => parentPort?.postMessage({ id: job.id, error: String(error) }),
  );
});
