import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { compiledOnce } from '../../bench/support/compiled-once.ts'
import { processCpuMs } from '../support/proc-cpu.ts'
import type { Lab, LabHost } from './lab.ts'
import { now } from './scenarios.ts'

/** Dials of one pair at most, the first included. */
const DIAL_TRIES = 3

/** raw-lab-node.ts compiled once per run, run by plain Node as a js-libp2p app runs. */
const rawNodeScript = compiledOnce('raw-lab-node.ts', 'lab')

interface RawNode {
  host: LabHost
  child: ChildProcess
  peerId: string
  tcpAddr: string
  /** Resolves with the next line that starts with `prefix` (and its words after it). */
  next(prefix: string, timeoutMs: number): Promise<string[]>
  /** Every `up`/`fail` line so far, with when it arrived (performance.now()). */
  outcomes: Array<{ peerId: string; up: boolean; at: number; message?: string }>
  /** Called on each outcome. */
  onOutcome: () => void
  send(line: string): void
}

async function startRawNode(host: LabHost, script: string): Promise<RawNode> {
  const [cmd = 'ip', ...prefix] = host.prefix
  const child = spawn(cmd, [...prefix, process.execPath, script], { stdio: ['pipe', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-8192)))
  const waiting: Array<{ prefix: string; resolve: (words: string[]) => void; reject: (err: Error) => void }> = []
  child.once('exit', (code) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`raw node on ${host.name} exited (${code}); stderr: ${stderr}`))
  })
  const next = (word: string, timeoutMs: number) =>
    new Promise<string[]>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`raw node on ${host.name}: no "${word}" within ${timeoutMs} ms; stderr: ${stderr}`)),
        timeoutMs,
      )
      waiting.push({
        prefix: word,
        resolve: (w) => {
          clearTimeout(timer)
          resolve(w)
        },
        reject,
      })
    })
  const outcomes: RawNode['outcomes'] = []
  const self: RawNode = {
    host,
    child,
    peerId: '',
    tcpAddr: '',
    next,
    outcomes,
    onOutcome: () => {},
    send: (line) => child.stdin?.write(`${line}\n`),
  }
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const [word = '', ...rest] = line.split(' ')
    if (word === 'up' || word === 'fail') {
      outcomes.push({
        peerId: rest[0] ?? '',
        up: word === 'up',
        at: now(),
        ...(word === 'fail' ? { message: rest.slice(1).join(' ') } : {}),
      })
      self.onOutcome()
    }
    const i = waiting.findIndex((w) => w.prefix === word)
    if (i >= 0) waiting.splice(i, 1)[0]?.resolve(rest)
  })
  const [peerId = '', addrsJson = '[]'] = await next('node', 60_000)
  const addrs = JSON.parse(addrsJson) as string[]
  const tcp = addrs.find((a) => a.startsWith(`/ip4/${host.addr}/tcp/`) && !a.includes('/ws'))
  if (!tcp) throw new Error(`raw node on ${host.name}: no TCP address on ${host.addr} among ${addrs.join(' ')}`)
  self.peerId = peerId
  self.tcpAddr = tcp.includes('/p2p/') ? tcp : `${tcp}/p2p/${peerId}`
  return self
}

export interface RawHealResult {
  /** Connections across the cut, each counted once (the daemons' figure counts each at both ends). */
  connections: number
  /** Heal to each cross-cut connection up, ms. */
  reconnectMs: number[]
  /** Pairs that were not up after DIAL_TRIES dials. */
  neverUp: number
  /** Every failed dial (a pair may fail and then come up at its next try). */
  failures: string[]
  cpuS: number
  wallS: number
}

/**
 * The plain library on the same network, given what no daemon has: the moment of the heal. One
 * js-libp2p node per host (raw-lab-node.ts: the daemon's default transports and services), all
 * connected to each other; the connections across the cut are hung up before the cut (so none is
 * left to die of failed pings, and nothing crosses the cut while it lasts); at the heal the end with
 * the lower index dials its peers across the cut, all at once, a pair whose dial fails again at once. What it measures is
 * how fast this machine lets the library itself bring those connections up when all of them are
 * wanted at once: a floor for the daemons' figure, which adds finding out that the network is back.
 */
export async function rawHeal(lab: Lab, hostCount: number, holdMs: number, log: (s: string) => void): Promise<RawHealResult> {
  const script = await rawNodeScript()
  const hosts = lab.hosts.slice(0, hostCount)
  const nodes: RawNode[] = []
  try {
    for (const h of hosts) nodes.push(await startRawNode(h, script))
    const across = (a: RawNode, b: RawNode) => a.host.site !== b.host.site
    // each pair dialled by its lower-index end; a failed dial is tried again at once, up to
    // maxTries in all (a busy peer refuses or resets some handshakes, as it does the daemons')
    const dialAll = async (pairs: (i: number, j: number) => boolean, maxTries: number, timeoutMs: number) => {
      await Promise.all(
        nodes.map(
          (a, i) =>
            new Promise<void>((resolve, reject) => {
              const targets = new Map(nodes.filter((_, j) => j > i && pairs(i, j)).map((t) => [t.peerId, t.tcpAddr]))
              const tries = new Map<string, number>()
              const dial = (ids: string[]) => {
                for (const id of ids) tries.set(id, (tries.get(id) ?? 0) + 1)
                if (ids.length > 0) a.send(`dial ${ids.map((id) => targets.get(id)).join(' ')}`)
              }
              const timer = setTimeout(
                () => reject(new Error(`raw node on ${a.host.name}: dials not settled within ${timeoutMs} ms`)),
                timeoutMs,
              )
              a.onOutcome = () => {
                const last = a.outcomes.at(-1)
                if (last && !last.up && targets.has(last.peerId) && (tries.get(last.peerId) ?? 0) < maxTries) dial([last.peerId])
                const settled = [...targets.keys()].every((id) => {
                  const of = a.outcomes.filter((o) => o.peerId === id)
                  return of.some((o) => o.up) || of.length >= maxTries
                })
                if (settled) {
                  clearTimeout(timer)
                  resolve()
                }
              }
              dial([...targets.keys()])
              if (targets.size === 0) a.onOutcome()
            }),
        ),
      )
    }
    /** Each dialled pair once: when it came up, or its last failure. */
    const results = () =>
      nodes.flatMap((n) => {
        const byPeer = new Map<string, RawNode['outcomes'][number]>()
        for (const o of n.outcomes) if (!byPeer.get(o.peerId)?.up) byPeer.set(o.peerId, o)
        return [...byPeer.values()]
      })
    // the mesh is only the starting point: 20 nodes that just started time some dials out
    await dialAll(() => true, 10, 300_000)
    const meshFailures = results().filter((o) => !o.up)
    if (meshFailures.length > 0)
      throw new Error(`raw nodes: ${meshFailures.length} pairs of the mesh never connected, e.g. ${meshFailures[0]?.message}`)
    log(`raw: ${nodes.length} js-libp2p nodes connected to each other`)
    for (const n of nodes) n.outcomes.length = 0
    await Promise.all(
      nodes.map((a) => {
        const down = a.next('down', 30_000)
        a.send(
          `hangup ${nodes
            .filter((b) => across(a, b))
            .map((b) => b.peerId)
            .join(' ')}`,
        )
        return down
      }),
    )
    await lab.partition()
    await new Promise((r) => setTimeout(r, holdMs))
    const cpu = () => nodes.reduce((s, n) => s + (n.child.pid === undefined ? 0 : processCpuMs(n.child.pid)), 0) / 1000
    const cpuAtHeal = cpu()
    const healAt = now()
    await lab.heal()
    await dialAll((i, j) => across(nodes[i] as RawNode, nodes[j] as RawNode), DIAL_TRIES, 120_000)
    const outcomes = results()
    const backAt = Math.max(...outcomes.map((o) => o.at))
    const failed = nodes.flatMap((n) => n.outcomes.filter((o) => !o.up))
    return {
      connections: outcomes.length,
      reconnectMs: outcomes.filter((o) => o.up).map((o) => Math.round(o.at - healAt)),
      neverUp: outcomes.filter((o) => !o.up).length,
      failures: failed.map((o) => `${o.peerId.slice(-6)}: ${o.message}`),
      cpuS: cpu() - cpuAtHeal,
      wallS: (backAt - healAt) / 1000,
    }
  } finally {
    await Promise.all(
      nodes.map(async (n) => {
        if (n.child.exitCode !== null || n.child.signalCode !== null) return
        const exited = new Promise((r) => n.child.once('exit', r))
        n.child.kill('SIGTERM')
        const timer = setTimeout(() => n.child.kill('SIGKILL'), 10_000)
        await exited
        clearTimeout(timer)
      }),
    )
  }
}
