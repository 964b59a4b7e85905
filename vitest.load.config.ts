import { defineConfig } from 'vitest/config';

/** The tests that assert a latency bound under attack: one file at a time, nothing else running. */
export default defineConfig({
  test: {
    include: ['test/load/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
