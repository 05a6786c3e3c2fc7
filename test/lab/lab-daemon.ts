import { type ChildProcess, spawn } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import WebSocket from 'ws'
import { bundleForThisRun } from '../../scripts/build-daemon.ts'
import { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import { type Config, envWithoutSwitchboard } from '../../src/config.ts'
import { CLI_ARGS, type StartBanner, waitForBanner } from '../support/process-daemon.ts'
import type { Lab, LabHost } from './lab.ts'

/**
 * One real daemon on a lab host, started as the README starts it (`switchboard start --data-dir <dir>`:
 * every default listener on 0.0.0.0, mDNS, relay, gossip hub) inside the host's namespace, plus
 * `--bootstrap` and `--port <lab.apiPort>`. Timings the CLI has no flag for go into the data
 * directory's config.json, which the daemon reads at start. Driven over its WebSocket API through the
 * host's management socket.
 */
export interface LabDaemon extends StartBanner {
  host: LabHost
  dataDir: string
  child: ChildProcess
  /** When the process was spawned and when it printed its banner (performance.now()). */
  spawnedAt: number
  startedAt: number
  /** Last 64 KiB of each stream. */
  stdout(): string
  stderr(): string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** A new WebSocket client (closed by stop/kill). */
  client(): Promise<SwitchboardClient>
  /** SIGKILL, nothing cleaned: the data directory stays for a restart. */
  kill(): Promise<void>
  /** SIGTERM (SIGKILL after 20 s) and remove the data directory. */
  stop(): Promise<void>
}

export interface LabDaemonOptions {
  bootstrap?: string[]
  /** Written to <dataDir>/config.json. */
  config?: Partial<Config>
  args?: string[]
  /** Start on this data directory (a restart) instead of a new one. */
  dataDir?: string
}

/**
 * Node's arguments that run the CLI: the current sources bundled once per run as `npm start` runs them
 * (scripts/build-daemon.ts), which starts in a third of the time of tsx's loader: twenty daemons on two
 * cores. `LAB_TSX=1` runs src/cli/main.ts under tsx instead (CLI_ARGS, as the other tests do);
 * `LAB_SRC=<dir>` bundles <dir>/src/cli/main.ts instead (another revision's sources, e.g. from
 * `git archive <rev> src | tar -x -C <dir>`, to compare before and after a change).
 */
export async function daemonCommand(): Promise<string[]> {
  if (process.env.LAB_TSX === '1') return [...CLI_ARGS]
  return [await bundleForThisRun('lab', process.env.LAB_SRC)]
}

const tail = (s: string) => (s.length > 65_536 ? s.slice(-65_536) : s)

export async function startLabDaemon(lab: Lab, host: LabHost, opts: LabDaemonOptions = {}): Promise<LabDaemon> {
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), `sblab-${host.name.split('-').at(-1)}-`)))
  if (opts.config && !opts.dataDir) await writeFile(join(dataDir, 'config.json'), JSON.stringify(opts.config))
  const env = envWithoutSwitchboard()
  const args = [
    'start',
    '--data-dir',
    dataDir,
    '--port',
    String(lab.apiPort),
    ...(opts.bootstrap ?? []).flatMap((b) => ['--bootstrap', b]),
    ...(opts.args ?? []),
  ]
  const [cmd = 'ip', ...prefix] = host.prefix
  const node = await daemonCommand()
  // LAB_NODE_ARGS='--cpu-prof --cpu-prof-dir=<dir>': options for each daemon's node (NODE_OPTIONS refuses --cpu-prof)
  const nodeArgs = (process.env.LAB_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')
  const spawnedAt = performance.now()
  const child = spawn(cmd, [...prefix, process.execPath, ...nodeArgs, ...node, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out = tail(out + d)))
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err = tail(err + d)))
  // LAB_LOG_DIR=<dir>: each daemon's whole stderr also goes to <dir>/<host>.log (with DEBUG=libp2p:...,
  // to see what a run's connections did)
  if (process.env.LAB_LOG_DIR) {
    const file = createWriteStream(join(process.env.LAB_LOG_DIR, `${host.name.split('-').at(-1)}.log`), { flags: 'a' })
    child.stderr?.on('data', (d: string) => file.write(d))
    child.once('close', () => file.end())
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  )
  const clients: SwitchboardClient[] = []
  const closeClients = () => Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})))
  const kill = async () => {
    await closeClients()
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  }
  const stop = async () => {
    await closeClients()
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
    await exited
    clearTimeout(timer)
    await rm(dataDir, { recursive: true, force: true })
  }
  let banner: StartBanner
  try {
    banner = await waitForBanner(
      child,
      exited,
      () => out,
      () => err,
      90_000,
      `daemon on ${host.name}`,
    )
    if (banner.port !== lab.apiPort) throw new Error(`daemon on ${host.name} listens on ${banner.port}, not ${lab.apiPort}`)
  } catch (e) {
    await stop()
    throw e
  }
  return {
    ...banner,
    host,
    dataDir,
    child,
    spawnedAt,
    startedAt: performance.now(),
    stdout: () => out,
    stderr: () => err,
    exited,
    async client() {
      const c = await SwitchboardClient.connect(`ws+unix://${host.socket}:/ws`, {
        token: banner.token,
        WebSocket: WebSocket as never,
      })
      clients.push(c)
      return c
    },
    kill,
    stop,
  }
}

/** The TCP multiaddr (with /p2p/) the daemon has on its host's current address. */
export function tcpAddrOf(d: LabDaemon, addrs: string[] = d.addrs): string {
  const a = addrs.find((x) => x.startsWith(`/ip4/${d.host.addr}/tcp/`) && !x.includes('/ws'))
  if (!a) throw new Error(`no TCP address on ${d.host.addr} among ${addrs.join(' ')}`)
  return a.includes('/p2p/') ? a : `${a}/p2p/${d.peerId}`
}
