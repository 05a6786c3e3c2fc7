import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll } from 'vitest'

/** A temp directory made before the describe block's tests and removed after them; call the result for its path. */
export function useTempDir(prefix: string): () => string {
  let dir: string | undefined
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix))
  })
  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })
  return () => {
    if (dir === undefined) throw new Error(`the ${prefix} temp dir is made in beforeAll; read it inside a test`)
    return dir
  }
}

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
