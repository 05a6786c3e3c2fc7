import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bundleForThisRun } from '../../scripts/build-daemon.ts'
import { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import { type Config, envWithoutSwitchboard } from '../../src/config.ts'
import { CLI_ARGS, parseBanner, type StartBanner } from '../../test/support/process-daemon.ts'

/**
 * A daemon as users run it, for benchmarks: `switchboard start` in its own process on the embedded
 * defaults (listeners on 0.0.0.0 for TCP, WebSocket and WebRTC-direct, mDNS on, HTTP on the first free
 * port from 10000), from the current sources bundled as `npm start` runs them (scripts/build-daemon.ts;
 * `SWITCHBOARD_BENCH_TSX=1`: through tsx instead, as test/support/process-daemon.ts runs them).
 * Only what a benchmark must change goes into its data directory's config.json (the per-connection
 * request rate limit, which would otherwise cap every figure at itself).
 *
 * `SWITCHBOARD_BENCH_CPU_PROF=<dir>` starts it under `node --cpu-prof`; the profile is written to that
 * directory when the daemon exits on stop(). `SWITCHBOARD_BENCH_DAEMON_ARGS` (space-separated) adds flags to
 * every daemon, for experiments (`--no-mdns`); a run with them is not a run on the defaults.
 */

/** Node's arguments that run the CLI as users run it: the bundle, or tsx with SWITCHBOARD_BENCH_TSX=1. */
export const daemonArgs = async (): Promise<string[]> =>
  process.env.SWITCHBOARD_BENCH_TSX === '1' ? [...CLI_ARGS] : [await bundleForThisRun('bench')]

export const UNLIMITED: Partial<Config> = { rateLimitPerSecond: 1_000_000, rateLimitBurst: 1_000_000 }

export interface DefaultDaemon extends StartBanner {
  client(): Promise<SwitchboardClient>
  /** What it printed so far, stdout then stderr. */
  output(): string
  /** SIGTERM, wait for the exit (profiles are written then), delete the data directory. */
  stop(): Promise<void>
}

export async function startDefaultDaemon(
  opts: { config?: Partial<Config>; args?: string[]; profileName?: string } = {},
): Promise<DefaultDaemon> {
  const dataDir = await mkdtemp(join(tmpdir(), 'sb-bench-proc-'))
  await writeFile(join(dataDir, 'config.json'), JSON.stringify(opts.config ?? UNLIMITED))
  const profDir = process.env.SWITCHBOARD_BENCH_CPU_PROF
  const nodeArgs: string[] = []
  if (profDir) {
    await mkdir(profDir, { recursive: true })
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${profDir}`)
    if (opts.profileName) nodeArgs.push(`--cpu-prof-name=${opts.profileName}-${Date.now()}.cpuprofile`)
  }
  const env = envWithoutSwitchboard()
  const child = spawn(
    process.execPath,
    [...nodeArgs, ...(await daemonArgs()), 'start', '--data-dir', dataDir, ...(opts.args ?? []), ...extraArgs()],
    {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()))
  const banner = await new Promise<StartBanner>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`daemon printed no banner within 60 s\n${stdout}\n${stderr}`))
    }, 60_000)
    const onData = () => {
      const parsed = parseBanner(stdout)
      if (!parsed) return
      clearTimeout(timer)
      child.stdout.off('data', onData)
      resolve(parsed)
    }
    child.stdout.on('data', onData)
    void exited.then(() => {
      clearTimeout(timer)
      reject(new Error(`daemon exited before its banner\n${stdout}\n${stderr}`))
    })
  })
  const clients: SwitchboardClient[] = []
  return {
    ...banner,
    output: () => `${stdout}\n${stderr}`,
    async client() {
      const c = await SwitchboardClient.connect(banner.wsUrl, { token: banner.token })
      clients.push(c)
      return c
    },
    async stop() {
      await Promise.all(clients.map((c) => c.close().catch(() => {})))
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
      await exited
      clearTimeout(timer)
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}

/** A TCP address of the daemon on 127.0.0.1 with its /p2p/ suffix, for another daemon to bootstrap from or dial. */
export function loopbackTcp(d: StartBanner): string {
  const addr = d.addrs.find((a) => a.startsWith('/ip4/127.0.0.1/tcp/') && !a.includes('/ws'))
  if (!addr) throw new Error(`no 127.0.0.1 TCP address in ${d.addrs.join(' ')}`)
  return addr.includes('/p2p/') ? addr : `${addr}/p2p/${d.peerId}`
}

function extraArgs(): string[] {
  return (process.env.SWITCHBOARD_BENCH_DAEMON_ARGS ?? '').split(' ').filter((a) => a !== '')
}
