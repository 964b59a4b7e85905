import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Latency-bound tests run on their own afterwards (vitest.load.config.ts): other test files
    // running beside them would be measured too.
    exclude: ['test/load/**', '**/node_modules/**'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
