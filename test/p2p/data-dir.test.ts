import { spawn } from 'node:child_process'
import { readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { lockDataDir, processStartTime, takeLockFile } from '../../src/p2p/data-dir.ts'
import { tempDir } from '../support/daemon.ts'

describe('data directory lock', () => {
  it('refuses a second daemon of the same process, and is free again once released', async () => {
    const dir = await tempDir()
    const release = await lockDataDir(dir)
    await expect(lockDataDir(dir)).rejects.toMatchObject({ name: 'DataDirLockedError' })
    await release()
    const again = await lockDataDir(dir)
    await again()
  })

  it('names its process by pid and start time', async () => {
    const dir = await tempDir()
    const release = await lockDataDir(dir)
    const start = await processStartTime('self')
    expect(start).toMatch(/^\d+$/)
    expect(await processStartTime(process.pid)).toBe(start)
    expect(await readFile(join(dir, 'daemon.lock'), 'utf8')).toBe(`${process.pid} ${start}\n`)
    await release()
  })

  it('takes over a lock of a process that is gone, or of a pid that now names a later process', async () => {
    for (const stale of ['999999999 12345\n', '999999999\n', `${process.ppid} 1\n`]) {
      const dir = await tempDir()
      await writeFile(join(dir, 'daemon.lock'), stale)
      const release = await lockDataDir(dir)
      await release()
    }
  })

  it('takes over a lock whose process is a zombie: killed, and never reaped by its parent', async () => {
    // the shell's background child exits; its parent becomes `sleep`, which never reaps it
    const parent = spawn('sh', ['-c', 'sleep 0.05 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] })
    try {
      const pid = Number(await new Promise<string>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(d.toString()))))
      const start = await processStartTime(pid)
      await vi.waitFor(async () => expect((await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.[0]).toBe('Z'), { timeout: 5_000 })
      const dir = await tempDir()
      await writeFile(join(dir, 'daemon.lock'), `${pid} ${start}\n`)
      const release = await lockDataDir(dir)
      await release()
    } finally {
      parent.kill('SIGKILL')
    }
  })

  it('an older lock holding only the pid of a running process still refuses (it cannot be told apart)', async () => {
    const dir = await tempDir()
    await writeFile(join(dir, 'daemon.lock'), `${process.ppid}\n`)
    await expect(lockDataDir(dir)).rejects.toThrow(`another Switchboard daemon (pid ${process.ppid})`)
  })
})

describe('taking over a stale lock', () => {
  it('two processes racing to take over one stale lock: exactly one holds it, every time', async () => {
    const dir = await tempDir()
    const path = join(dir, 'daemon.lock')
    // like the /proc look-up of the real judgement: an await of varying length, so the two interleave differently
    const isLive = async (text: string) => {
      for (let i = Math.floor(Math.random() * 4); i > 0; i--) await new Promise((r) => setImmediate(r))
      return text !== 'stale\n'
    }
    for (let i = 0; i < 300; i++) {
      await writeFile(path, 'stale\n')
      const [a, b] = await Promise.all([takeLockFile(path, 'a\n', isLive), takeLockFile(path, 'b\n', isLive)])
      const winners = [a, b].filter((held) => held === undefined)
      expect(winners, `iteration ${i}: a ${JSON.stringify(a)}, b ${JSON.stringify(b)}`).toHaveLength(1)
      // the loser was told who holds it, and the file says the same
      const text = await readFile(path, 'utf8')
      expect(text).toBe(a === undefined ? 'a\n' : 'b\n')
      expect([a, b]).toContain(text)
      await rm(path)
    }
    // nothing left beside the lock: no attempt or moved-aside file
    expect(await readdir(dir)).toEqual([])
  })
})
