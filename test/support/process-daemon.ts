import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import { envWithoutSwitchboard } from '../../src/config.ts'

/**
 * Node's arguments that start the CLI from the sources (`process.execPath ...CLI_ARGS ...cliArguments`):
 * tsx's ESM loader on src/cli/main.ts. `CLI_ARGS.slice(0, 2)` runs any other TypeScript file.
 */
export const CLI_ARGS: readonly string[] = [
  '--import',
  pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href,
  resolve(import.meta.dirname, '../../src/cli/main.ts'),
]

/**
 * Node's arguments that start the CLI as `npm start` runs it: the bundle of the current sources that
 * test/support/global-setup.ts builds once per vitest run (scripts/build-daemon.ts), so the process tests
 * run what users run; CLI_ARGS (tsx) outside vitest.
 */
export const DAEMON_ARGS: readonly string[] = process.env.SB_TEST_DAEMON_BUNDLE ? [process.env.SB_TEST_DAEMON_BUNDLE] : CLI_ARGS

/** Environment for child daemons: nothing from the developer's own SWITCHBOARD_* settings leaks in. */
function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...envWithoutSwitchboard(), ...extra }
}

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Run the CLI to completion (help, bad input); kills it and fails if it does not exit within `timeoutMs`. */
export async function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [...DAEMON_ARGS, ...args], {
    env: childEnv(opts.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const watched = watchChild(child)
  const timeoutMs = opts.timeoutMs ?? 60_000
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const result = await watched.exited
  clearTimeout(timer)
  if (result.signal === 'SIGKILL')
    throw new Error(`switchboard did not exit within ${timeoutMs} ms\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`)
  return result
}

/** Collect a child's output; `exited` resolves once it has exited and its pipes are drained. */
function watchChild(child: ChildProcess) {
  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const exited = new Promise<CliResult>((resolvePromise) => {
    child.once('close', (code, signal) => resolvePromise({ code, signal, stdout, stderr }))
  })
  return { stdout: () => stdout, stderr: () => stderr, exited }
}

/** What a started daemon printed: the contract of `switchboard start`'s first lines. */
export interface StartBanner {
  peerId: string
  addrs: string[]
  url: string
  origin: string
  port: number
  token: string
  wsUrl: string
}

export function parseBanner(stdout: string): StartBanner | undefined {
  const lines = stdout.split('\n')
  const peerId = lines
    .find((l) => l.startsWith('peer id '))
    ?.slice('peer id '.length)
    .trim()
  const url = lines
    .find((l) => l.startsWith('dashboard '))
    ?.slice('dashboard '.length)
    .trim()
  const wsUrl = lines
    .find((l) => l.startsWith('websocket '))
    ?.slice('websocket '.length)
    .trim()
  if (!peerId || !url || !wsUrl) return undefined
  const end = lines.findIndex((l) => l.startsWith('dashboard '))
  const start = lines.findIndex((l) => l.startsWith('peer id '))
  const addrs = lines
    .slice(start + 1, end)
    .map((l) => l.replace(/^listening/, '').trim())
    .filter((l) => l.startsWith('/'))
  const parsed = new URL(url)
  return {
    peerId,
    addrs,
    url,
    origin: parsed.origin,
    port: Number(parsed.port),
    token: parsed.searchParams.get('token') ?? '',
    wsUrl,
  }
}

/**
 * The banner of a daemon `child` started, once its stdout holds one; a rejection naming `name`
 * when it exits first or prints none within `timeoutMs` (what it printed is in the error).
 */
export function waitForBanner(
  child: ChildProcess,
  exited: Promise<unknown>,
  stdout: () => string,
  stderr: () => string,
  timeoutMs: number,
  name: string,
): Promise<StartBanner> {
  return new Promise<StartBanner>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} did not print its banner within ${timeoutMs} ms\n${stdout()}\n${stderr()}`)),
      timeoutMs,
    )
    const onData = () => {
      const parsed = parseBanner(stdout())
      if (!parsed) return
      clearTimeout(timer)
      child.stdout?.off('data', onData)
      resolve(parsed)
    }
    child.stdout?.on('data', onData)
    void exited.then((r) => {
      clearTimeout(timer)
      const { code, signal } = (r ?? {}) as { code?: number | null; signal?: NodeJS.Signals | null }
      const how = code != null || signal != null ? ` (${code ?? signal})` : ''
      reject(new Error(`${name} exited${how} before it started\nstdout:\n${stdout()}\nstderr:\n${stderr()}`))
    })
  })
}

export interface ProcessDaemon extends StartBanner {
  child: ChildProcess
  dataDir: string
  /** Everything printed so far. */
  stdout(): string
  stderr(): string
  /** A WebSocket client with the token; closed by stop(). */
  client(): Promise<SwitchboardClient>
  /** Send `signal` (SIGTERM by default) and wait until the process has exited. */
  stop(signal?: NodeJS.Signals): Promise<CliResult>
  /** stop() and delete the data directory if this helper created it. */
  destroy(): Promise<void>
}

export interface ProcessDaemonOptions {
  dataDir?: string
  /** Extra arguments after the defaults; a later flag wins where options take one value. */
  args?: string[]
  bootstrap?: string[]
  /** libp2p listen addresses; one OS-chosen TCP port on 127.0.0.1 by default. */
  listen?: string[]
  /** First HTTP port to try; 0 (default) lets the OS choose, so parallel tests never collide. */
  port?: number
  env?: NodeJS.ProcessEnv
  startTimeoutMs?: number
  /** Node's arguments that start the CLI (default DAEMON_ARGS); the benchmarks pass the bundle's. */
  command?: readonly string[]
}

/**
 * Start `switchboard start` as a child process on loopback, with its own data directory and no mDNS,
 * and resolve once it has printed its peer id, listen addresses and dashboard URL.
 */
export async function startProcessDaemon(opts: ProcessDaemonOptions = {}): Promise<ProcessDaemon> {
  const ownDir = opts.dataDir === undefined
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'sb-proc-')))
  const args = [
    'start',
    '--data-dir',
    dataDir,
    '--port',
    String(opts.port ?? 0),
    '--no-mdns',
    ...(opts.listen ?? ['/ip4/127.0.0.1/tcp/0']).flatMap((l) => ['--listen', l]),
    ...(opts.bootstrap ?? []).flatMap((b) => ['--bootstrap', b]),
    ...(opts.args ?? []),
  ]
  const child = spawn(process.execPath, [...(opts.command ?? DAEMON_ARGS), ...args], {
    env: childEnv(opts.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const { stdout, stderr, exited } = watchChild(child)

  const timeoutMs = opts.startTimeoutMs ?? 60_000
  const banner = await waitForBanner(child, exited, stdout, stderr, timeoutMs, 'switchboard').catch((e: unknown) => {
    child.kill('SIGKILL')
    throw e
  })

  const clients: SwitchboardClient[] = []
  let stopping: Promise<CliResult> | undefined
  const stop = (signal: NodeJS.Signals = 'SIGTERM') => {
    stopping ??= (async () => {
      await Promise.all(clients.map((c) => c.close().catch(() => {})))
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      // a daemon that does not stop by itself is a bug the caller should see, but never an orphan
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
      try {
        return await exited
      } finally {
        clearTimeout(timer)
      }
    })()
    return stopping
  }
  return {
    ...banner,
    child,
    dataDir,
    stdout,
    stderr,
    async client() {
      const c = await SwitchboardClient.connect(banner.wsUrl, {
        token: banner.token,
      })
      clients.push(c)
      return c
    },
    stop,
    async destroy() {
      await stop()
      if (ownDir) await rm(dataDir, { recursive: true, force: true })
    },
  }
}

/** Listen on 127.0.0.1:port; resolves with the server, rejects (EADDRINUSE...) if the port is taken. */
export function occupyPort(port: number): Promise<Server> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => resolvePromise(server))
  })
}

export const closeServer = (server: Server) => new Promise<void>((r) => server.close(() => r()))

/**
 * `count` consecutive free ports on 127.0.0.1. They are drawn at random below the OS's ephemeral
 * range (32768+), so the ports libp2p and other tests get from the OS never land on them.
 */
export async function freePorts(count = 1): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * (12_000 - count))
    const held: Server[] = []
    try {
      for (let i = 0; i < count; i++) held.push(await occupyPort(base + i))
      return base
    } catch {
      // one of them is taken: try another base
    } finally {
      await Promise.all(held.map(closeServer))
    }
  }
  throw new Error(`no ${count} consecutive free ports found`)
}

/** A fresh, real Ed25519 peer id (with a key behind it), as a string: for bans and known peers. */
export const newPeerId = async (): Promise<string> => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
