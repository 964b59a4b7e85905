/**
 * loadPolicies on a worker thread, so parsing thousands of YAML documents never stalls Checks.
 * Falls back to the calling thread where no compiled worker exists (running from sources).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { type LoadOptions, type LoadResult, loadPolicies } from './load.js';

const workerUrl = new URL('./load-worker.js', import.meta.url);
const workerAvailable = existsSync(fileURLToPath(workerUrl));

export function loadPoliciesOffThread(
  paths: readonly string[],
  options: Partial<LoadOptions> = {},
): Promise<LoadResult> {
  if (!workerAvailable) return loadPolicies(paths, options);
  return new Promise((resolve, reject) => {
    const worker = new Worker(workerUrl, { workerData: { paths: [...paths], options } });
    let settled = false;
    worker.once('message', (result: LoadResult) => {
      settled = true;
      resolve(result);
    });
    worker.once('error', (error) => {
      settled = true;
      reject(error);
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`policy loader thread exited with code ${code}`));
    });
  });
}
