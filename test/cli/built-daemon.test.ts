import { spawn, spawnSync } from 'node:child_process'
import { existsSync, rmSync, statSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { cacheFileOf } from '../../src/cli/code-cache.ts'
import { useTempDir } from '../support/temp-dir.ts'

/**
 * What `npm start` runs: bin/switchboard.js on the launcher dist/switchboard.mjs and its bundle dist/switchboard.cjs (the other tests run src/
 * through tsx). Built here the way `npm install` (prepare) and `npm start` (prestart) build it: tsc
 * (incremental, about a second when the install already built it), then the bundle of the current sources.
 */
const ROOT = resolve(import.meta.dirname, '../..')
const BIN = join(ROOT, 'bin/switchboard.js')

describe('the built daemon (bin/switchboard.js on the bundle in dist/)', () => {
  const temp = useTempDir('switchboard-built-')

  it('builds, starts on loopback, answers status and /health, and stops on SIGTERM with exit 0', async () => {
    const build = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-b', 'tsconfig.build.json'], {
      cwd: ROOT,
      encoding: 'utf8',
    })
    expect(build.status, build.stdout + build.stderr).toBe(0)
    const bundle = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/build-daemon.ts')], { cwd: ROOT, encoding: 'utf8' })
    expect(bundle.status, bundle.stdout + bundle.stderr).toBe(0)
    // the launcher's code caches (src/cli/code-cache.ts) as after a build of changed sources: none yet
    const bundled = join(ROOT, 'dist', 'switchboard.cjs')
    const caches = { cli: cacheFileOf(bundled, 'cli'), start: cacheFileOf(bundled, 'start') }
    for (const f of Object.values(caches)) rmSync(f, { force: true })
    const dataDir = join(temp(), 'data')
    const args = ['start', '--no-mdns', '--port', '0', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', dataDir]
    const daemon = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    daemon.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    daemon.stderr.setEncoding('utf8').on('data', (d: string) => (out += d))
    const exited = new Promise<number | null>((r) => daemon.once('exit', (code) => r(code)))
    try {
      const run = await vi.waitFor(async () => JSON.parse(await readFile(join(dataDir, 'daemon.json'), 'utf8')) as { origin: string }, {
        timeout: 60_000,
        interval: 50,
      })
      const health = await fetch(`${run.origin}/health`)
      expect(health.status).toBe(200)
      expect(await health.json()).toMatchObject({ status: 'ok', nodes: 1 })
      const status = () => spawnSync(process.execPath, [BIN, 'status', '--data-dir', dataDir], { encoding: 'utf8' })
      const first = status()
      expect(first.status, first.stderr).toBe(0)
      expect(first.stdout).toMatch(/^Switchboard .*: peer-a 12D3KooW/)
      expect(first.stdout).toMatch(/node:peer-a +"running"/)
      // the code cache is written when a run without it ends well, then used (not written again: a cache
      // missing, stale or refused by V8 would be replaced by a new file); the daemon's own at its stop
      const made = statSync(caches.cli)
      expect(status().status).toBe(0)
      expect(statSync(caches.cli)).toMatchObject({ ino: made.ino, mtimeMs: made.mtimeMs })
      expect(existsSync(caches.start)).toBe(false)
      daemon.kill('SIGTERM')
      expect(await exited, out).toBe(0)
      expect(statSync(caches.start).size).toBeGreaterThan(1_000_000)
    } finally {
      if (daemon.exitCode === null) daemon.kill('SIGKILL')
    }
  })
})
