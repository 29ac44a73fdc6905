import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // lavapipe uses every core for each dispatch: running test files one at a time is faster than racing them.
    fileParallelism: false,
    pool: 'forks',
  },
});
