import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Directories tempDir made in this test file's process, removed after its tests (remove-temp-dirs.ts). */
const made = new Set<string>()

/** A new directory under the OS temp dir; removed once the test file's tests are done, whatever happened in them. */
export async function tempDir(prefix = 'sb-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  made.add(dir)
  return dir
}

/** Remove every directory tempDir made; one that cannot go (a process still writing in it) is left. */
export async function removeTempDirs(): Promise<void> {
  const dirs = [...made]
  made.clear()
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch(() => {})))
}
