import { describe, expect, it } from 'vitest';
import { httpConnectionCap, parseSoftOpenFileLimit, softOpenFileLimit } from '../../src/http/open-files.js';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 524288               files
Max locked memory         8388608              8388608              bytes
`;

describe('open-file limit', () => {
  it('reads the soft limit from /proc/self/limits text', () => {
    expect(parseSoftOpenFileLimit(LIMITS)).toBe(1024);
  });

  it('has no limit to report when the line is missing or unlimited', () => {
    expect(parseSoftOpenFileLimit('Limit  Soft Limit  Hard Limit  Units\n')).toBeUndefined();
    expect(parseSoftOpenFileLimit(LIMITS.replace('1024   ', 'unlimited'))).toBeUndefined();
  });

  it("reads this process's own limit on Linux", () => {
    if (process.platform !== 'linux') return;
    expect(softOpenFileLimit()).toBeGreaterThan(0);
  });
});

describe('HTTP connection cap', () => {
  it('is the requested cap while that leaves half of the descriptors', () => {
    expect(httpConnectionCap(512, 1024)).toBe(512);
    expect(httpConnectionCap(512, 1_048_576)).toBe(512);
    expect(httpConnectionCap(512, undefined)).toBe(512);
  });

  it('is cut to half of the soft limit, so gRPC keeps the other half', () => {
    expect(httpConnectionCap(512, 256)).toBe(128);
    expect(httpConnectionCap(10_000, 4096)).toBe(2048);
    expect(httpConnectionCap(512, 1)).toBe(1);
  });
});
