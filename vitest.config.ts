import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['./src/shims.ts', './test/support/remove-temp-dirs.ts'],
    // the daemon bundled as `npm start` runs it, for the tests that start it in its own process
    globalSetup: ['./test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // real libp2p nodes and daemons: keep parallelism modest for a 2-core machine
    maxWorkers: 2,
    pool: 'forks',
  },
})
