import { randomBytes, timingSafeEqual } from 'node:crypto'
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { CorruptFileError, writeFileAtomic } from './atomic-file.ts'

export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError'
}

/** The data directory cannot be created or written (a file in its place, no permission). */
export class DataDirError extends Error {
  override name = 'DataDirError'
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Data directories locked by daemons of this process. */
const lockedHere = new Set<string>()

/**
 * Take `<dataDir>/daemon.lock` so a second daemon on the same directory stops with a clear message
 * instead of a LevelDB stack trace. A lock left by a dead process is taken over.
 */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  // a lock file naming this very process is stale unless a daemon in this process holds it
  if (lockedHere.has(resolve(dataDir))) {
    throw new DataDirLockedError(`another Switchboard daemon in this process is using the data directory ${dataDir}`)
  }
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw new DataDirError(`cannot create the data directory ${dataDir}: ${(err as Error).message}`)
  }
  const path = join(dataDir, 'daemon.lock')
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      // the lock appears with its pid already in it (link fails if it exists): a second daemon never
      // reads an empty lock and mistakes it for a stale one
      const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`
      await writeFile(tmp, String(process.pid), { mode: 0o600 })
      try {
        await link(tmp, path)
      } finally {
        await unlink(tmp).catch(() => {})
      }
      lockedHere.add(resolve(dataDir))
      return async () => {
        lockedHere.delete(resolve(dataDir))
        await unlink(path).catch(() => {})
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOTDIR') throw new DataDirError(`data directory ${dataDir} is not a directory`)
      if (code !== 'EEXIST') throw new DataDirError(`cannot write the lock file ${path}: ${(err as Error).message}`)
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim())
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new DataDirLockedError(
          `another Switchboard daemon (pid ${pid}) is using the data directory ${dataDir}; stop it or pass --data-dir`,
        )
      }
      await unlink(path).catch(() => {})
    }
  }
  throw new DataDirLockedError(`cannot take the lock ${path}`)
}

/** The API token: created once (128+ bits, mode 0600), then read back on every start. */
export async function loadOrCreateToken(dataDir: string): Promise<string> {
  const path = join(dataDir, 'api-token')
  let text: string | undefined
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new CorruptFileError(path, `cannot read (${(err as Error).message})`)
  }
  if (text !== undefined) {
    const token = text.trim()
    if (!/^[0-9a-f]{32,}$/.test(token)) throw new CorruptFileError(path, 'not a hex token of at least 128 bits; delete it to make a new one')
    return token
  }
  const token = randomBytes(32).toString('hex')
  await writeFileAtomic(path, `${token}\n`, 0o600)
  return token
}

/** Constant-time comparison of a presented token with the real one. */
export function tokenMatches(presented: string | undefined, token: string): boolean {
  if (presented === undefined) return false
  const a = Buffer.from(presented)
  const b = Buffer.from(token)
  return a.length === b.length && timingSafeEqual(a, b)
}
