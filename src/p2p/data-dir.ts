import { randomBytes, timingSafeEqual } from 'node:crypto'
import { mkdir, open, readFile, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from './atomic-file.ts'

export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError'
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Take `<dataDir>/daemon.lock` so a second daemon on the same directory stops with a clear message
 * instead of a LevelDB stack trace. A lock left by a dead process is taken over.
 */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const path = join(dataDir, 'daemon.lock')
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o600)
      await fh.writeFile(String(process.pid))
      await fh.close()
      return async () => {
        await unlink(path).catch(() => {})
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
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
  try {
    const token = (await readFile(path, 'utf8')).trim()
    if (!/^[0-9a-f]{32,}$/.test(token)) throw new Error(`${path}: not a hex token of at least 128 bits; delete it to make a new one`)
    return token
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
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
