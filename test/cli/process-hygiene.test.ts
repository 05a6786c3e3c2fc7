import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { EXIT } from '../../src/cli/exit-codes.ts'
import { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import { envWithoutSwitchboard } from '../../src/config.ts'
import { processStartTime } from '../../src/p2p/data-dir.ts'
import { closeServer, DAEMON_ARGS, freePorts, newPeerId, occupyPort, runCli, startProcessDaemon } from '../support/process-daemon.ts'

const dirs: string[] = []
async function freshDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sb-hygiene-'))
  dirs.push(dir)
  return dir
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
})

const loopback = (dataDir: string) => ['start', '--data-dir', dataDir, '--port', '0', '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0']

/** Long enough for a daemon starting or stopping on a loaded machine. */
const WAIT = { timeout: 60_000, interval: 50 }

describe('process hygiene', () => {
  it('a stopped daemon exits once it has printed "stopped", whatever its event loop still holds', async () => {
    // left running, a stopped daemon's WebRTC-direct listener (node-datachannel's ICE UDP mux) crashed
    // the process when a STUN request came in: 4 of 8 stops with a peer still dialling, exit 139
    const lingering = fileURLToPath(new URL('../fixtures/lingering-timer.mjs', import.meta.url))
    const daemon = await startProcessDaemon({ dataDir: await freshDir(), env: { NODE_OPTIONS: `--import ${lingering}` } })
    const result = await daemon.stop()
    expect(result.stdout).toContain('\nstopped\n')
    expect({ code: result.code, signal: result.signal }).toEqual({ code: EXIT.ok, signal: null })
  })

  it('`switchboard start | head -1`: the daemon outlives its reader, serves, and stops cleanly (exit 0)', async () => {
    const dir = await freshDir()
    const command = `set -o pipefail; "${process.execPath}" ${DAEMON_ARGS.map((a) => `"${a}"`).join(' ')} ${loopback(dir).join(' ')} --log-level debug 2>&1 | head -1`
    const shell = spawn('bash', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'], env: envWithoutSwitchboard() })
    let printed = ''
    shell.stdout.setEncoding('utf8').on('data', (d: string) => (printed += d))
    const exited = new Promise<number | null>((r) => shell.once('close', (code) => r(code)))
    let pid: number | undefined
    try {
      // daemon.json is written before the banner is printed: wait for both
      const run = await vi.waitFor(async () => {
        const written = JSON.parse(await readFile(join(dir, 'daemon.json'), 'utf8')) as { pid: number; origin: string }
        pid = written.pid
        expect(printed).toMatch(/^Switchboard /)
        return written
      }, WAIT)
      const token = (await readFile(join(dir, 'api-token'), 'utf8')).trim()
      // every state change is a line for a reader that has gone: each write now fails with EPIPE
      const client = await SwitchboardClient.connect(`${run.origin.replace(/^http/, 'ws')}/ws`, { token })
      for (let i = 0; i < 5; i++) await client.call('peers.update', { peerId: await newPeerId(), known: true, autoConnect: false })
      await client.close()
      const health = await fetch(`${run.origin}/health`)
      expect(health.status).toBe(200)
      process.kill(run.pid, 'SIGTERM')
      // pipefail: the pipeline's status is the daemon's unless that is 0
      expect(await exited).toBe(0)
      expect(existsSync(join(dir, 'daemon.lock'))).toBe(false)
      expect(existsSync(join(dir, 'daemon.json'))).toBe(false)
    } finally {
      if (shell.exitCode === null) shell.kill('SIGKILL')
      // a failed assertion must not leave the daemon running behind the killed shell
      if (pid !== undefined && existsSync(join(dir, 'daemon.json'))) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // already gone
        }
      }
    }
  })

  it('a second SIGTERM while stopping does not cut the stop short: "already stopping", exit 0, "stopped", no signal death', async () => {
    const d = await startProcessDaemon()
    try {
      const client = await d.client()
      await client.call('bans.add', { peerId: await newPeerId(), ttlSeconds: 60 })
      // an upload in progress holds the stop (the HTTP server waits for requests it has begun), so the
      // second signal surely lands while stopping; 100-continue says the daemon has taken the request
      const upload = request(`${d.origin}/files/peer-a/held-open.bin`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/octet-stream', expect: '100-continue' },
      })
      const answered = new Promise<number | undefined>((resolve, reject) => {
        upload.once('response', (res) => res.resume().once('end', () => resolve(res.statusCode)))
        upload.once('error', reject)
      })
      await new Promise<void>((resolve) => upload.once('continue', resolve).flushHeaders())
      upload.write(Buffer.alloc(1024, 1))
      d.child.kill('SIGTERM')
      await vi.waitFor(() => expect(d.stdout()).toContain('SIGTERM: stopping\n'), WAIT)
      d.child.kill('SIGTERM')
      await vi.waitFor(() => expect(d.stderr()).toContain('SIGTERM: already stopping; finishing the saves first\n'), WAIT)
      expect(d.child.exitCode).toBeNull()
      expect(d.stdout()).not.toContain('stopped\n')
      upload.end(Buffer.alloc(1024, 2))
      expect(await answered).toBe(200)
      const result = await d.stop()
      expect(result.signal).toBeNull()
      expect(result.code).toBe(EXIT.ok)
      expect(result.stdout).toMatch(/stopped\n$/)
      expect(existsSync(join(d.dataDir, 'daemon.lock'))).toBe(false)
    } finally {
      await d.destroy()
    }
  })

  it('a lock whose pid now belongs to another process (other start time) is stale: the daemon starts and cleans orphan temp files', async () => {
    const dir = await freshDir()
    // this test process is alive, but did not start at tick 1
    await writeFile(join(dir, 'daemon.lock'), `${process.pid} 1\n`)
    const orphan = join(dir, '.bans.json.12345.0123456789ab.tmp')
    await writeFile(orphan, 'half a write')
    const d = await startProcessDaemon({ dataDir: dir })
    try {
      const lock = (await readFile(join(dir, 'daemon.lock'), 'utf8')).trim().split(' ')
      expect(lock).toEqual([String(d.child.pid), await processStartTime(d.child.pid as number)])
      expect(existsSync(orphan)).toBe(false)
    } finally {
      await d.stop()
    }
  })

  it('a lock whose pid and start time match a running process refuses the start: exit 4, one line', async () => {
    const dir = await freshDir()
    await writeFile(join(dir, 'daemon.lock'), `${process.pid} ${await processStartTime('self')}\n`)
    const { code, stderr } = await runCli(loopback(dir))
    expect(code).toBe(EXIT.locked)
    expect(stderr).toMatch(
      new RegExp(`^switchboard: another Switchboard daemon \\(pid ${process.pid}\\) is using the data directory ${dir}[^\\n]*\\n$`),
    )
    expect(existsSync(join(dir, 'daemon.lock'))).toBe(true) // not ours to remove
  })

  it('a libp2p listen address already taken: exit 7, one line naming the address, no stack frames', async () => {
    const port = await freePorts(1)
    const blocker = await occupyPort(port)
    try {
      const dir = await freshDir()
      const args = loopback(dir)
      args[args.length - 1] = `/ip4/127.0.0.1/tcp/${port}`
      const { code, stderr } = await runCli(args)
      expect(code).toBe(EXIT.node)
      expect(stderr).toMatch(
        new RegExp(`^switchboard: local node peer-a failed to start: [^\\n]*/ip4/127\\.0\\.0\\.1/tcp/${port}[^\\n]*EADDRINUSE[^\\n]*\\n$`),
      )
      expect(stderr).not.toMatch(/ at /)
      expect(existsSync(join(dir, 'daemon.lock'))).toBe(false)
    } finally {
      await closeServer(blocker)
    }
  })

  it('an identity key that cannot be read: exit 5, one line naming the file', async () => {
    const dir = await freshDir()
    await mkdir(join(dir, 'identity.key'))
    const { code, stderr } = await runCli(loopback(dir))
    expect(code).toBe(EXIT.dataDir)
    expect(stderr).toMatch(new RegExp(`^switchboard: ${join(dir, 'identity.key')}: cannot read the identity key[^\\n]*\\n$`))
    expect(existsSync(join(dir, 'daemon.lock'))).toBe(false)
  })
})
