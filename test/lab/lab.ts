import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const ip = (...args: string[]) => run('ip', args)

/**
 * A small network out of Linux network namespaces (we are root):
 *
 * ```
 *   host ns  eth0 ──veth── h<k> ┐
 *   host ns  eth0 ──veth── h<k> ┼ br0 (site ns S<s>) ── uplink ──veth── s<s> (router ns, IP forwarding)
 *                               ┘                                   10.<80+s>.0.1/24
 * ```
 *
 * Site `s` (1-based) is 10.<80+s>.0.0/24 (each site its own /16); host `k` (0-based) starts at
 * 10.<80+s>.0.<10+k> with a default route via the router's 10.<80+s>.0.1. A partition takes the router's side of a site's link down (the
 * router then has no route to it and answers ICMP net unreachable; the site's hosts lose their
 * gateway); a heal brings it back up. Nothing has a link to the host's own namespace: no traffic
 * leaves what the lab made. Namespace names carry our pid (`sblab-<pid>-...`), so the ones of a
 * crashed run are found and removed by the next (`removeStaleLabs`).
 */
export interface LabHost {
  index: number
  /** The host's namespace. */
  name: string
  /** Its site (1-based) and address now. */
  site: number
  addr: string
  /** `ip netns exec <name>`: arguments that run a command inside. */
  prefix: string[]
  /** The Unix socket of the management path into 127.0.0.1:<apiPort> in the host (see forward.mjs). */
  socket: string
}

export interface Lab {
  id: string
  router: string
  sites: string[]
  hosts: LabHost[]
  /** The port the management path forwards to inside each host (the daemons' HTTP port). */
  apiPort: number
  /** Cut these sites (1-based) off the router (all sites when none are named). */
  partition(sites?: number[]): Promise<void>
  heal(sites?: number[]): Promise<void>
  /** Move a host to another site: new subnet, new address, new default route; its processes keep running. */
  move(host: LabHost, site: number): Promise<void>
  destroy(): Promise<void>
}

export interface LabOptions {
  sites: number
  hosts: number
  /** Port forwarded from each host's management socket (default 10000, the daemon's default HTTP port). */
  apiPort?: number
}

const PREFIX = 'sblab'
const FORWARDER = join(import.meta.dirname, 'forward.mjs')
const live = new Set<string>()

/** Kill what runs in a namespace and delete it; synchronous, for exit handlers too. */
function removeNamespaceSync(name: string): void {
  try {
    const pids = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).split(/\s+/).filter(Boolean)
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL')
      } catch {
        // gone already
      }
    }
  } catch {
    // no such namespace
  }
  try {
    execFileSync('ip', ['netns', 'delete', name], { stdio: 'ignore' })
  } catch {
    // no such namespace
  }
}

let handlersInstalled = false
function installExitHandlers(): void {
  if (handlersInstalled) return
  handlersInstalled = true
  process.on('exit', () => {
    for (const name of live) removeNamespaceSync(name)
  })
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      for (const name of live) removeNamespaceSync(name)
      process.exit(130)
    })
  }
}

const pidAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Remove the namespaces (and what runs in them) of lab runs whose process is gone. */
export async function removeStaleLabs(): Promise<string[]> {
  const { stdout } = await ip('netns', 'list').catch(() => ({ stdout: '' }))
  const stale: string[] = []
  for (const line of stdout.split('\n')) {
    const name = line.split(' ')[0] ?? ''
    const m = /^sblab-(\d+)-/.exec(name)
    if (m && !pidAlive(Number(m[1]))) stale.push(name)
  }
  for (const name of stale) removeNamespaceSync(name)
  return stale
}

/** Why a lab cannot be built here (not Linux, not root, no `ip`, no bridges), or undefined. */
export async function labUnavailable(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `network namespaces are Linux only (this is ${process.platform})`
  if (process.getuid?.() !== 0) return 'the network lab needs root (ip netns add, bridges, veth pairs)'
  const name = `${PREFIX}-${process.pid}-probe`
  try {
    await ip('netns', 'add', name)
    await ip('-n', name, 'link', 'add', 'br0', 'type', 'bridge')
    await ip('-n', name, 'link', 'add', 'name', 'probe0', 'type', 'veth', 'peer', 'name', 'probe1')
    return undefined
  } catch (err) {
    return `cannot make a namespace with a bridge and a veth pair: ${(err as Error).message.split('\n')[0]}`
  } finally {
    removeNamespaceSync(name)
  }
}

/** Site `s` is 10.<80+s>.0.0/24: each site its own /16, the network group address books limit. */
const net = (site: number) => `10.${80 + site}.0`
const hostAddr = (site: number, index: number, moved: boolean) => `${net(site)}.${(moved ? 130 : 10) + index}`

export async function createLab(opts: LabOptions): Promise<Lab> {
  if (opts.sites < 1 || opts.sites > 9) throw new Error('1 to 9 sites')
  if (opts.hosts < 1 || opts.hosts > 110) throw new Error('1 to 110 hosts')
  installExitHandlers()
  await removeStaleLabs()
  const id = `${PREFIX}-${process.pid}-${Math.random().toString(36).slice(2, 6)}`
  const apiPort = opts.apiPort ?? 10000
  const router = `${id}-r`
  const sites = Array.from({ length: opts.sites }, (_, i) => `${id}-s${i + 1}`)
  const sockDir = await mkdtemp(join(tmpdir(), 'sblab-sock-'))
  const hosts: LabHost[] = []
  const forwarders: ChildProcess[] = []
  const made: string[] = []
  const addNs = async (name: string) => {
    await ip('netns', 'add', name)
    live.add(name)
    made.push(name)
    await ip('-n', name, 'link', 'set', 'lo', 'up')
  }
  const destroy = async () => {
    for (const f of forwarders) f.kill('SIGKILL')
    // hosts first (their daemons), then sites and the router
    for (const name of [...made].reverse()) {
      removeNamespaceSync(name)
      live.delete(name)
    }
    await rm(sockDir, { recursive: true, force: true })
  }
  try {
    await addNs(router)
    await run('ip', ['netns', 'exec', router, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'])
    for (const [i, site] of sites.entries()) {
      const s = i + 1
      await addNs(site)
      await ip('-n', site, 'link', 'add', 'br0', 'type', 'bridge')
      await ip('-n', site, 'link', 'set', 'br0', 'up')
      await ip('-n', router, 'link', 'add', `s${s}`, 'type', 'veth', 'peer', 'name', 'uplink', 'netns', site)
      await ip('-n', router, 'addr', 'add', `${net(s)}.1/24`, 'dev', `s${s}`)
      await ip('-n', router, 'link', 'set', `s${s}`, 'up')
      await ip('-n', site, 'link', 'set', 'dev', 'uplink', 'master', 'br0')
      await ip('-n', site, 'link', 'set', 'dev', 'uplink', 'up')
    }
    for (let k = 0; k < opts.hosts; k++) {
      const s = (k % opts.sites) + 1
      const name = `${id}-h${k}`
      const site = sites[s - 1] as string
      await addNs(name)
      await ip('-n', name, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `h${k}`, 'netns', site)
      await ip('-n', site, 'link', 'set', `h${k}`, 'master', 'br0')
      await ip('-n', site, 'link', 'set', `h${k}`, 'up')
      const addr = hostAddr(s, k, false)
      await ip('-n', name, 'addr', 'add', `${addr}/24`, 'dev', 'eth0')
      await ip('-n', name, 'link', 'set', 'eth0', 'up')
      await ip('-n', name, 'route', 'add', 'default', 'via', `${net(s)}.1`, 'dev', 'eth0')
      const socket = join(sockDir, `h${k}.sock`)
      const forwarder = spawn('ip', ['netns', 'exec', name, process.execPath, FORWARDER, socket, String(apiPort)], {
        stdio: ['pipe', 'pipe', 'inherit'],
      })
      forwarders.push(forwarder)
      await new Promise<void>((resolve, reject) => {
        forwarder.stdout?.once('data', () => resolve())
        forwarder.once('exit', (code) => reject(new Error(`management forwarder of ${name} exited (${code})`)))
      })
      hosts.push({ index: k, name, site: s, addr, prefix: ['ip', 'netns', 'exec', name], socket })
    }
  } catch (err) {
    await destroy()
    throw err
  }
  const siteList = (list?: number[]) => list ?? sites.map((_, i) => i + 1)
  return {
    id,
    router,
    sites,
    hosts,
    apiPort,
    async partition(list) {
      for (const s of siteList(list)) await ip('-n', router, 'link', 'set', `s${s}`, 'down')
    },
    async heal(list) {
      for (const s of siteList(list)) await ip('-n', router, 'link', 'set', `s${s}`, 'up')
    },
    async move(host, s) {
      const from = sites[host.site - 1] as string
      const to = sites[s - 1]
      if (!to) throw new Error(`no site ${s}`)
      // a new address whichever site: 10.<80+s>.0.<130+k> unless the host has that one already
      const addr = host.addr === hostAddr(s, host.index, true) ? hostAddr(s, host.index, false) : hostAddr(s, host.index, true)
      await ip('-n', host.name, 'link', 'set', 'eth0', 'down')
      await ip('-n', host.name, 'addr', 'flush', 'dev', 'eth0')
      if (from !== to) {
        await ip('-n', from, 'link', 'set', `h${host.index}`, 'netns', to)
        await ip('-n', to, 'link', 'set', `h${host.index}`, 'master', 'br0')
        await ip('-n', to, 'link', 'set', `h${host.index}`, 'up')
      }
      await ip('-n', host.name, 'addr', 'add', `${addr}/24`, 'dev', 'eth0')
      await ip('-n', host.name, 'link', 'set', 'eth0', 'up')
      await ip('-n', host.name, 'route', 'replace', 'default', 'via', `${net(s)}.1`, 'dev', 'eth0')
      host.site = s
      host.addr = addr
    },
    destroy,
  }
}
