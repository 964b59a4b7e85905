/**
 * Worker-thread entry: reads, parses and validates policy files away from the event loop that
 * answers Checks, and posts the LoadResult (plain data) back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type LoadOptions, loadPolicies } from './load.js';

interface Job {
  readonly paths: readonly string[];
  readonly options: Partial<LoadOptions>;
}

const job = workerData as Job;
parentPort?.postMessage(await loadPolicies(job.paths, job.options));
