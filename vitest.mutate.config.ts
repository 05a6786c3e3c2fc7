import { defineConfig } from 'vitest/config'

/**
 * The tests Stryker (npm run mutate, stryker.config.mjs) runs against each mutant of src/machines:
 * the machines' example, model-based and mutant-killing tests, all against fake worlds and a simulated
 * clock. No real libp2p node or daemon (test/integration, test/server): seconds per mutant would be minutes.
 * MUTATE_KIND=<kind> narrows them to that kind's own tests (a Stryker `testFiles` filter would activate
 * static mutants too late, stryker-js#6144, and report them as survivors).
 */
const kind = process.env.MUTATE_KIND
const kindTests: Record<string, string[]> = { topic: ['test/topics/topic.machine.test.ts'] }

export default defineConfig({
  test: {
    include: kind
      ? [`test/machines/${kind}.*.test.ts`, 'test/machines/load.mutants.test.ts', ...(kindTests[kind] ?? [])]
      : ['test/machines/**/*.test.ts', 'test/topics/topic.machine.test.ts'],
    setupFiles: ['./src/shims.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
