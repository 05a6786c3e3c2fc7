import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['./src/shims.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // real libp2p nodes and daemons: keep parallelism modest for a 2-core machine
    maxWorkers: 2,
    pool: 'forks',
  },
})
