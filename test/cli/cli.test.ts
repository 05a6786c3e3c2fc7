import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { EXIT } from '../../src/cli/exit-codes.ts'
import { CLI_OPTIONS } from '../../src/cli/options.ts'
import { closeServer, freePorts, occupyPort, type ProcessDaemon, runCli, startProcessDaemon } from '../support/process-daemon.ts'

const dirs: string[] = []
async function freshDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sb-cli-'))
  dirs.push(dir)
  return dir
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
})

/** Arguments that keep a daemon on loopback with an OS-chosen HTTP port. */
const loopback = (dataDir: string) => ['start', '--data-dir', dataDir, '--port', '0', '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0']

/** An expected failure says what is wrong in one line: no stack trace. */
function expectCleanError(stderr: string): void {
  expect(stderr).toMatch(/^switchboard: [^\n]+\n$/)
}

describe('command line', () => {
  it('--help lists every option and exits 0', async () => {
    for (const args of [['--help'], ['-h'], ['help']]) {
      const { code, stdout } = await runCli(args)
      expect(code).toBe(0)
      for (const [name, opt] of Object.entries(CLI_OPTIONS)) {
        expect(stdout).toContain(`--${name}`)
        if ('short' in opt) expect(stdout).toContain(`-${opt.short}`)
      }
      for (const env of ['SWITCHBOARD_HOME', 'SWITCHBOARD_PORT']) expect(stdout).toContain(env)
    }
  })

  it('an unknown flag prints the error and the help, exit code 2', async () => {
    const { code, stdout, stderr } = await runCli(['start', '--bogus-flag'])
    expect(code).toBe(2)
    expect(stderr).toContain('--bogus-flag')
    expect(stderr).toContain('Usage: switchboard')
    for (const name of Object.keys(CLI_OPTIONS)) expect(stderr).toContain(`--${name}`)
    expect(stdout).toBe('')
  })

  it('bad flag values and unknown commands are usage errors naming the flag', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--port', 'abc'], /--port/],
      [['--port', '70000'], /--port/],
      [['--dht-timeout', '5'], /--dht-timeout/],
      [['--unknown-peers', 'maybe'], /--unknown-peers/],
      [['--log-level', 'loud'], /--log-level/],
      [['--data-dir', ''], /--data-dir/],
      [['frobnicate'], /frobnicate/],
    ]
    for (const [args, message] of cases) {
      const { code, stderr } = await runCli(args[0]?.startsWith('-') ? ['start', ...args] : args)
      expect(code, args.join(' ')).toBe(2)
      expect(stderr).toMatch(message)
      expect(stderr).toContain('Usage: switchboard')
    }
  })
})

describe('bad input on disk', () => {
  it('a corrupted identity key: exit 5 naming the file, and the file is not replaced', async () => {
    const dir = await freshDir()
    const keyPath = join(dir, 'identity.key')
    const garbage = randomBytes(68)
    garbage[0] = 0xff // not a valid protobuf field tag
    await writeFile(keyPath, garbage, { mode: 0o600 })
    const before = await stat(keyPath)
    const { code, stderr, stdout } = await runCli(loopback(dir))
    expect(code).toBe(EXIT.dataDir)
    expectCleanError(stderr)
    expect(stderr).toContain(keyPath)
    expect(stdout).not.toContain('peer id')
    expect(Buffer.compare(await readFile(keyPath), garbage)).toBe(0)
    expect((await stat(keyPath)).mtimeMs).toBe(before.mtimeMs)
    expect(existsSync(join(dir, 'daemon.lock'))).toBe(false)
  })

  it('an empty identity key file is refused the same way', async () => {
    const dir = await freshDir()
    const keyPath = join(dir, 'identity.key')
    await writeFile(keyPath, '')
    const { code, stderr } = await runCli(loopback(dir))
    expect(code).toBe(EXIT.dataDir)
    expectCleanError(stderr)
    expect(stderr).toContain(keyPath)
    expect(stderr).toMatch(/empty/)
    expect((await readFile(keyPath)).length).toBe(0)
  })

  it('config.json that is not JSON: the message names the file', async () => {
    const dir = await freshDir()
    await writeFile(join(dir, 'config.json'), '{"port": 10001,')
    const { code, stderr } = await runCli(loopback(dir))
    expect(code).toBe(EXIT.config)
    expectCleanError(stderr)
    expect(stderr).toContain(join(dir, 'config.json'))
    expect(stderr).toMatch(/JSON/)
  })

  it('config.json with a bad or unknown field: the message names the file and the field', async () => {
    for (const [content, field] of [
      [{ dhtBootstrapTimeoutMs: 'soon' }, 'dhtBootstrapTimeoutMs'],
      [{ unknownPeers: 'sometimes' }, 'unknownPeers'],
      [{ bootstarp: [] }, 'bootstarp'],
    ] as const) {
      const dir = await freshDir()
      await writeFile(join(dir, 'config.json'), JSON.stringify(content))
      const { code, stderr } = await runCli(loopback(dir))
      expect(code).toBe(EXIT.config)
      expectCleanError(stderr)
      expect(stderr).toContain(join(dir, 'config.json'))
      expect(stderr).toContain(field)
    }
  })

  it('a bad environment variable: the message names the variable', async () => {
    const dir = await freshDir()
    const { code, stderr } = await runCli(
      loopback(dir).filter((a, i, all) => a !== '--port' && all[i - 1] !== '--port'),
      {
        env: { SWITCHBOARD_PORT: 'ten' },
      },
    )
    expect(code).toBe(EXIT.config)
    expectCleanError(stderr)
    expect(stderr).toContain('SWITCHBOARD_PORT')
  })

  it('a corrupted API token file: exit 5 naming the file', async () => {
    const dir = await freshDir()
    await writeFile(join(dir, 'api-token'), 'not-a-token\n')
    const { code, stderr } = await runCli(loopback(dir))
    expect(code).toBe(EXIT.dataDir)
    expectCleanError(stderr)
    expect(stderr).toContain(join(dir, 'api-token'))
    expect(await readFile(join(dir, 'api-token'), 'utf8')).toBe('not-a-token\n')
  })

  it('a data directory that is a file: exit 3 (the configured path is wrong) naming it', async () => {
    const dir = await freshDir()
    const file = join(dir, 'not-a-dir')
    await writeFile(file, 'x')
    const { code, stderr } = await runCli(loopback(file))
    expect(code).toBe(EXIT.config)
    expectCleanError(stderr)
    expect(stderr).toContain(file)
    expect(stderr).toMatch(/not a directory/)
  })
})

describe('a running daemon', () => {
  const daemons: ProcessDaemon[] = []
  afterAll(async () => {
    await Promise.all(daemons.map((d) => d.destroy()))
  })
  const start = async (...args: Parameters<typeof startProcessDaemon>) => {
    const d = await startProcessDaemon(...args)
    daemons.push(d)
    return d
  }

  it('prints its peer id, listen addresses and dashboard URL with the token', async () => {
    const d = await start()
    expect(d.peerId).toMatch(/^12D3KooW/)
    expect(d.addrs.length).toBeGreaterThan(0)
    for (const addr of d.addrs) expect(addr).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${d.peerId}$`))
    expect(d.url).toBe(`http://127.0.0.1:${d.port}/?token=${d.token}`)
    expect((await readFile(join(d.dataDir, 'api-token'), 'utf8')).trim()).toBe(d.token)
    expect((await stat(join(d.dataDir, 'api-token'))).mode & 0o777).toBe(0o600)
    const client = await d.client()
    expect(await client.call('node.info')).toMatchObject({ peerid: d.peerId, alias: 'peer-a' })
  })

  it('a second daemon on the same data directory exits with a clear message; the first keeps running', async () => {
    const first = await start()
    const { code, stderr } = await runCli(loopback(first.dataDir))
    expect(code).toBe(EXIT.locked)
    expectCleanError(stderr)
    expect(stderr).toContain('another Switchboard daemon')
    expect(stderr).toContain(first.dataDir)
    expect(stderr).not.toMatch(/LEVEL_|LevelDB|IO error/i)
    const client = await first.client()
    expect(await client.call('node.info')).toMatchObject({ peerid: first.peerId })
    expect(existsSync(join(first.dataDir, 'daemon.lock'))).toBe(true)
  })

  it('a port in use moves to the next one', async () => {
    const port = await freePorts(2)
    const blocker = await occupyPort(port)
    try {
      const d = await start({ port })
      expect(d.port).toBe(port + 1)
      expect(d.url).toBe(`http://127.0.0.1:${port + 1}/?token=${d.token}`)
      const client = await d.client()
      expect(await client.call('node.info')).toMatchObject({ peerid: d.peerId })
    } finally {
      await closeServer(blocker)
    }
  })

  it('no free port in the range is a clear error, and the daemon releases everything', async () => {
    const port = await freePorts(1)
    const blocker = await occupyPort(port)
    try {
      const dir = await freshDir()
      await writeFile(join(dir, 'config.json'), JSON.stringify({ portRangeEnd: port }))
      const args = loopback(dir)
      args[args.indexOf('--port') + 1] = String(port)
      const { code, stderr } = await runCli(args)
      expect(code).toBe(EXIT.listen)
      expectCleanError(stderr)
      expect(stderr).toContain(`no free port between ${port} and ${port}`)
      expect(existsSync(join(dir, 'daemon.lock'))).toBe(false)
    } finally {
      await closeServer(blocker)
    }
  })

  it('keeps its identity and token across a restart', async () => {
    const dir = await freshDir()
    const first = await startProcessDaemon({ dataDir: dir })
    expect((await first.stop()).code).toBe(0)
    const second = await start({ dataDir: dir })
    expect(second.peerId).toBe(first.peerId)
    expect(second.token).toBe(first.token)
  })

  it.each(['SIGTERM', 'SIGINT'] as const)('%s stops it cleanly: exit 0, "stopped" printed, lock file removed', async (signal) => {
    const d = await startProcessDaemon()
    try {
      const client = await d.client()
      await client.call('node.info')
      expect(existsSync(join(d.dataDir, 'daemon.lock'))).toBe(true)
      const result = await d.stop(signal)
      expect(result.signal).toBeNull()
      expect(result.code).toBe(0)
      expect(result.stdout).toMatch(new RegExp(`${signal}: stopping\\n[\\s\\S]*stopped\\n$`))
      expect(result.stderr).toBe('')
      expect(existsSync(join(d.dataDir, 'daemon.lock'))).toBe(false)
    } finally {
      await d.destroy()
    }
  })
})
