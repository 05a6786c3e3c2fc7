/**
 * Once per vitest run, before any test file: the daemon bundled from the current sources as
 * `npm start` runs it (scripts/build-daemon.ts), for the tests that start daemons in their own
 * processes (DAEMON_ARGS in process-daemon.ts), its code cache warmed by one start and stop, as a
 * user's daemon has it after its first. Under node_modules/.cache, one per run; removed when the run
 * ends. Its path reaches the test workers in SB_TEST_DAEMON_BUNDLE.
 */
import { bundleForThisRun } from '../../scripts/build-daemon.ts'

export default async function setup(): Promise<void> {
  process.env.SB_TEST_DAEMON_BUNDLE = await bundleForThisRun('test')
}
