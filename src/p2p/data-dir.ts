import { randomBytes, timingSafeEqual } from 'node:crypto'
import { link, mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { CorruptFileError, isAtomicTempName, writeFileAtomic } from './atomic-file.ts'

export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError'
}

/** The data directory cannot be created or written (a file in its place, no permission). */
export class DataDirError extends Error {
  override name = 'DataDirError'
}

/** Is a process with this pid running (ours to signal or not)? */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * The fields of a /proc/<pid>/stat text from field 3 (the state) on: the command name (field 2) is
 * in parentheses and may hold spaces, so they are counted from after its closing one.
 */
export function procStatFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
}

/**
 * Fields of /proc/<pid>/stat: the state (field 3: `Z` a zombie, killed or exited but not yet reaped
 * by its parent) and when the process started, in clock ticks since boot (field 22): with the pid
 * it names one process for good, since a pid is reused only by a later process. Undefined where
 * /proc is not available or the process is gone.
 */
async function procStat(pid: number | 'self'): Promise<{ state: string; start: string | undefined } | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined)
  if (stat === undefined) return undefined
  const fields = procStatFields(stat)
  const start = fields[22 - 3]
  return { state: fields[0] ?? '', start: start !== undefined && /^\d+$/.test(start) ? start : undefined }
}

/** When the process started (see procStat); undefined where /proc is not available or the process is gone. */
export async function processStartTime(pid: number | 'self'): Promise<string | undefined> {
  return (await procStat(pid))?.start
}

/** What a lock file holds: `<pid> <start time>` (older locks: the pid alone). */
function parseLock(text: string): { pid: number; start: string | undefined } | undefined {
  const [pidText, start] = text.trim().split(/\s+/)
  const pid = Number(pidText)
  if (!Number.isInteger(pid) || pid <= 0) return undefined
  return { pid, start: start !== undefined && /^\d+$/.test(start) ? start : undefined }
}

/**
 * Is the process that wrote this lock still running? A live pid with another start time is a reused
 * pid. A zombie is not running: a daemon killed with -9 stays one until its parent reaps it, and in a
 * container whose first process never reaps, that is for good.
 */
async function holderRunning(lock: { pid: number; start: string | undefined }): Promise<boolean> {
  if (lock.pid === process.pid || !isAlive(lock.pid)) return false
  const now = await procStat(lock.pid)
  if (now?.state === 'Z' || now?.state === 'X') return false
  if (lock.start === undefined) return true
  return now?.start === undefined || now.start === lock.start
}

/** Data directories locked (or being locked) by daemons of this process. */
const lockedHere = new Set<string>()

/** A unique name next to `path` for this process: `<path>.<tag><pid>.<8 hex>` (removed at start if its process is gone). */
const besideLock = (path: string, tag: string) => `${path}.${tag}${process.pid}.${randomBytes(4).toString('hex')}`

/**
 * Create the lock file `path` holding `own`, unless it exists and `isLive(its text)`. A stale lock
 * is never unlinked by name: between reading it and unlinking, another process may have taken it
 * over and put its own fresh lock there. It is renamed to a name of ours instead (only one process
 * can do that), and only if what was moved is still the text judged stale does the takeover go on;
 * a fresh lock moved by mistake is put back. Returns undefined once taken, else the live lock's text.
 */
export async function takeLockFile(path: string, own: string, isLive: (text: string) => Promise<boolean>): Promise<string | undefined> {
  for (let attempt = 0; attempt < 20; attempt++) {
    // the lock appears with its text already in it (link fails if it exists): no one ever reads an
    // empty lock and mistakes it for a stale one
    const tmp = besideLock(path, '')
    await writeFile(tmp, own, { mode: 0o600 })
    try {
      await link(tmp, path)
      return undefined
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    } finally {
      await unlink(tmp).catch(() => {})
    }
    const text = await readFile(path, 'utf8').catch(() => undefined)
    if (text === undefined) continue // gone meanwhile: try again
    if (await isLive(text)) return text
    const aside = besideLock(path, 'stale.')
    try {
      await rename(path, aside)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue // another process moved it first
      throw err
    }
    const moved = await readFile(aside, 'utf8').catch(() => undefined)
    if (moved !== text) {
      // a lock written after the stale one was judged: its owner holds the directory, put it back
      // (texts tell apart: each names its process, and lockDataDir lets one start per process try)
      await link(aside, path).catch(() => {})
    }
    await unlink(aside).catch(() => {})
  }
  throw new Error(`cannot take the lock ${path}: it keeps changing`)
}

/**
 * Take `<dataDir>/daemon.lock` so a second daemon on the same directory stops with a clear message
 * instead of a LevelDB stack trace. The lock names its process by pid and start time; a lock left by
 * a dead process, or whose pid now belongs to a process that started later, is taken over.
 */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const key = resolve(dataDir)
  // a lock file naming this very process is stale unless a daemon in this process holds it; reserved
  // before the lock is taken, so two starts in this process never both judge the other's lock stale
  if (lockedHere.has(key)) {
    throw new DataDirLockedError(`another Switchboard daemon in this process is using the data directory ${dataDir}`)
  }
  lockedHere.add(key)
  try {
    try {
      await mkdir(dataDir, { recursive: true, mode: 0o700 })
    } catch (err) {
      throw new DataDirError(`cannot create the data directory ${dataDir}: ${(err as Error).message}`)
    }
    const path = join(dataDir, 'daemon.lock')
    const start = await processStartTime('self')
    let held: string | undefined
    try {
      held = await takeLockFile(path, start === undefined ? `${process.pid}\n` : `${process.pid} ${start}\n`, async (text) => {
        const lock = parseLock(text)
        return lock !== undefined && (await holderRunning(lock))
      })
    } catch (err) {
      throw new DataDirError(`cannot write the lock file ${path}: ${(err as Error).message}`)
    }
    if (held !== undefined) {
      throw new DataDirLockedError(
        `another Switchboard daemon (pid ${parseLock(held)?.pid}) is using the data directory ${dataDir}; stop it or pass --data-dir`,
      )
    }
    return async () => {
      lockedHere.delete(key)
      await unlink(path).catch(() => {})
    }
  } catch (err) {
    lockedHere.delete(key)
    throw err
  }
}

/**
 * Delete what writes killed half-way left behind in the data directory and the node directories:
 * only temp files of writeFileAtomic and lock attempts of processes no longer running. Call it
 * while holding the lock. Returns the names removed.
 */
export async function removeOrphanTempFiles(dataDir: string): Promise<string[]> {
  const nodes = join(dataDir, 'nodes')
  const nodeDirs = await readdir(nodes, { withFileTypes: true }).catch(() => [])
  const dirs = [dataDir, ...nodeDirs.filter((d) => d.isDirectory()).map((d) => join(nodes, d.name))]
  const removed: string[] = []
  for (const dir of dirs) {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const lockAttempt = /^daemon\.lock\.(?:stale\.)?(\d+)\.[0-9a-f]{8}$/.exec(name)
      const orphan = isAtomicTempName(name) || (lockAttempt !== null && !isAlive(Number(lockAttempt[1])))
      if (!orphan) continue
      await unlink(join(dir, name)).then(
        () => removed.push(join(dir, name)),
        () => {},
      )
    }
  }
  return removed
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
    if (!/^[0-9a-f]{32,}$/.test(token))
      throw new CorruptFileError(path, 'not a hex token of at least 128 bits; delete it to make a new one')
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
