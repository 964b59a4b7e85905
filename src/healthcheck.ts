/**
 * The container image's HEALTHCHECK: GET /healthz on the HTTP listener the service was started
 * with, found from the container's first process's arguments and environment, so
 * `docker run IMAGE serve --http-address 0.0.0.0:8080` stays healthy. Exit 0 healthy, 1 not.
 */
import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { healthcheckTarget } from './settings/healthcheck-target.js';

/** The first process's arguments (PID 1 is the service, or an init that runs it). */
function firstProcessArgs(): string[] {
  try {
    return readFileSync('/proc/1/cmdline', 'utf8').split('\0');
  } catch {
    return [];
  }
}

const target = healthcheckTarget(firstProcessArgs(), process.env);
if (target === undefined) process.exit(1);
get({ ...target, path: '/healthz', timeout: 2000 }, (res) => process.exit(res.statusCode === 200 ? 0 : 1))
  .on('timeout', () => process.exit(1))
  .on('error', () => process.exit(1));
