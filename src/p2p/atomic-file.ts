import { randomBytes } from 'node:crypto'
import { open, rename, unlink } from 'node:fs/promises'
import { dirname, basename, join } from 'node:path'

/** Raised when a file on disk exists but cannot be trusted; `path` names it. */
export class CorruptFileError extends Error {
  override name = 'CorruptFileError'
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`${path}: ${reason}`)
  }
}

/** The temp names writeFileAtomic uses, `.<name>.<pid>.<12 hex>.tmp`: what a kill may leave behind. */
export const isAtomicTempName = (name: string) => /^\..+\.\d+\.[0-9a-f]{12}\.tmp$/.test(name)

/** A file written and fsynced under a temp name, not yet in place. */
export interface StagedFile {
  /** Rename it into place and fsync the directory: from then on the file is the new content. */
  commit(): Promise<void>
  /** Remove the temp file; the file in place is left as it was. */
  discard(): Promise<void>
}

/**
 * The first half of writeFileAtomic: the content written to a temp file beside `path` and fsynced.
 * A caller that must not replace the file before something else has landed stages it meanwhile
 * and commits after, so only the rename and the directory's fsync wait.
 */
export async function stageFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<StagedFile> {
  // unique even for two writes of one file in the same millisecond
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`)
  const fh = await open(tmp, 'w', mode)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } catch (err) {
    // a full disk must not leave a half-written temp behind as well
    await fh.close().catch(() => {})
    await unlink(tmp).catch(() => {})
    throw err
  }
  await fh.close()
  return {
    async commit() {
      try {
        await rename(tmp, path)
      } catch (err) {
        await unlink(tmp).catch(() => {})
        throw err
      }
      const dir = await open(dirname(path), 'r')
      try {
        await dir.sync()
      } catch {
        // some filesystems refuse fsync on a directory; the rename is still atomic
      } finally {
        await dir.close()
      }
    },
    discard: () => unlink(tmp).catch(() => {}),
  }
}

/** Write a file so that a kill at any moment leaves either the old or the new content: temp, fsync, rename, fsync dir. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  await (await stageFileAtomic(path, data, mode)).commit()
}

/** Move a corrupt file aside (kept for inspection) and return the new name. */
export async function quarantine(path: string): Promise<string> {
  const aside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`
  await rename(path, aside)
  return aside
}
