// Mutation testing of the pure state machines: `npm run mutate` (slow, not in CI; figures in bench/results.md).
//
// The machines are built when their module loads and the model tests generate their paths from them when
// they are collected, so Stryker sees nearly every machine mutant as "static" and runs every related test
// file for it, in a freshly loaded module graph. To keep a run within minutes, run one kind at a time
// against that kind's own tests: `MUTATE_KIND=dht npm run mutate` mutates src/machines/dht/dht.machine.ts
// and runs only test/machines/dht.*.test.ts and test/machines/load.mutants.test.ts (the selection is in
// vitest.mutate.config.ts). Without MUTATE_KIND everything in src/machines is mutated against all machine tests.
// *.types.ts hold TypeBox schemas and types only (no behaviour of the machine); they are not mutated.
const kind = process.env.MUTATE_KIND

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  mutate: kind ? [`src/machines/${kind}/${kind}.machine.ts`] : ['src/machines/**/*.ts', '!src/machines/**/*.types.ts'],
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner', './stryker.ignore-docs.mjs'],
  ignorers: ['machine-docs'],
  vitest: { configFile: 'vitest.mutate.config.ts' },
  coverageAnalysis: 'perTest',
  concurrency: 2,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: `reports/mutation/${kind ?? 'all'}.html` },
  jsonReporter: { fileName: `reports/mutation/${kind ?? 'all'}.json` },
  // not incremental: it keeps a static mutant's old survival after new tests are added, which hides kills
  incremental: false,
  timeoutMS: 5_000,
  ignorePatterns: ['dist', 'docs', 'bench', '.scratch', '.tmp', 'coverage'],
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  thresholds: { high: 90, low: 80, break: null },
}
