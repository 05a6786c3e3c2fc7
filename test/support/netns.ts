import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { type Browser, chromium } from 'playwright-core'
import { envWithoutSwitchboard } from '../../src/config.ts'
import { CHROMIUM_ARGS, findChromium } from './chromium.ts'
import { DAEMON_ARGS, type StartBanner, waitForBanner } from './process-daemon.ts'

const run = promisify(execFile)

/**
 * A network namespace of our own with loopback up and a veth pair whose both ends stay inside it
 * (10.77.0.1 and 10.77.0.2), and a default route to the other end: Chromium gathers no ICE candidates
 * when loopback is all it has (nor without a default route), and nothing in here can reach (or be
 * reached from) the host's networks.
 */
export interface Netns {
  name: string
  /** The non-loopback addresses inside. */
  addrs: string[]
  /** Arguments that run a command inside: `ip netns exec <name>`. */
  prefix: string[]
  destroy(): Promise<void>
}

const ip = (...args: string[]) => run('ip', args)

export async function createNetns(): Promise<Netns> {
  const name = `sb-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
  await ip('netns', 'add', name)
  const destroy = async () => {
    // deleting the namespace removes the veth pair in it
    await ip('netns', 'delete', name).catch(() => {})
  }
  try {
    await ip('-n', name, 'link', 'set', 'lo', 'up')
    await ip('-n', name, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1')
    await ip('-n', name, 'addr', 'add', '10.77.0.1/24', 'dev', 'veth0')
    await ip('-n', name, 'addr', 'add', '10.77.0.2/24', 'dev', 'veth1')
    await ip('-n', name, 'link', 'set', 'veth0', 'up')
    await ip('-n', name, 'link', 'set', 'veth1', 'up')
    // Chromium offers host candidates only on the interface of the default route (without one: none
    // at all); the route points at the other end of the pair, inside: nothing leaves the namespace
    await ip('-n', name, 'route', 'add', 'default', 'via', '10.77.0.2', 'dev', 'veth0')
  } catch (err) {
    await destroy()
    throw err
  }
  return { name, addrs: ['10.77.0.1', '10.77.0.2'], prefix: ['ip', 'netns', 'exec', name], destroy }
}

/** Why namespaces cannot be made here (not root, no `ip`, a kernel without them), or undefined. */
export async function netnsUnavailable(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `network namespaces are Linux only (this is ${process.platform})`
  if (process.getuid?.() !== 0) return 'making a network namespace needs root (ip netns add)'
  try {
    const ns = await createNetns()
    await ns.destroy()
    return undefined
  } catch (err) {
    return `cannot make a network namespace with a veth pair: ${(err as Error).message.split('\n')[0]}`
  }
}

/**
 * Chromium started inside the namespace: Playwright launches a wrapper that execs the browser under
 * `ip netns exec` (the pipe Playwright drives it through is inherited). Local addresses are shown as
 * they are in ICE candidates, not hidden behind mDNS names nobody here answers.
 */
export async function launchChromiumIn(ns: Netns): Promise<Browser> {
  const found = await findChromium()
  const dir = await mkdtemp(join(tmpdir(), 'sb-netns-chromium-'))
  const wrapper = join(dir, 'chromium')
  const quoted = [...ns.prefix, found.executablePath].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ')
  await writeFile(wrapper, `#!/bin/sh\nexec ${quoted} "$@"\n`)
  await chmod(wrapper, 0o755)
  try {
    const browser = await chromium.launch({
      executablePath: wrapper,
      args: [...CHROMIUM_ARGS, '--disable-features=WebRtcHideLocalIpsWithMdns'],
      env: found.env,
    })
    browser.once('disconnected', () => void rm(dir, { recursive: true, force: true }))
    return browser
  } catch (err) {
    await rm(dir, { recursive: true, force: true })
    throw err
  }
}

export interface NetnsDaemon extends StartBanner {
  child: ChildProcess
  dataDir: string
  stdout(): string
  stderr(): string
  /** SIGTERM, then SIGKILL after 20 s; resolves once it has exited. */
  stop(): Promise<void>
}

/**
 * `switchboard start --data-dir <tmp>` inside the namespace, as a user starts it: its own process,
 * default configuration (every default listener on 0.0.0.0, relay, gossip hub), plus `args`;
 * `reuseDataDir`: on that data directory (a restart) instead of a new one.
 */
export async function startDaemonIn(ns: Netns, args: string[] = [], reuseDataDir?: string): Promise<NetnsDaemon> {
  const dataDir = reuseDataDir ?? (await mkdtemp(join(tmpdir(), 'sb-netns-daemon-')))
  const env = envWithoutSwitchboard()
  const [cmd = 'ip', ...prefixArgs] = ns.prefix
  const child = spawn(cmd, [...prefixArgs, process.execPath, ...DAEMON_ARGS, 'start', '--data-dir', dataDir, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d))
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d))
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
    await exited
    clearTimeout(timer)
    await rm(dataDir, { recursive: true, force: true })
  }
  try {
    const banner = await waitForBanner(
      child,
      exited,
      () => out,
      () => err,
      60_000,
      'switchboard',
    )
    return { ...banner, child, dataDir, stdout: () => out, stderr: () => err, stop }
  } catch (e) {
    await stop()
    throw e
  }
}
