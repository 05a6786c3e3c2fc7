import '../src/shims.ts'
import { readdirSync, readFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import type { SwitchboardClient } from '../src/client/switchboard-client.ts'
import { CLK_TCK, processCpuMs } from '../test/support/proc-cpu.ts'
import { fmt, markdownTable, median, publish, runIfMain } from './machine.ts'
import { type BenchChild, spawnBenchChild } from './support/bench-child.ts'
import { compiledOnce } from './support/compiled-once.ts'
import { daemonArgs, startDefaultDaemon } from './support/default-daemon.ts'

/**
 * Reconnects, a hub and N peers (issue 14's heal; the floor issue 15 asks for): each round the hub hangs
 * up on all N peers, then connects to all N at once and waits until all are connected. Every node is
 * its own process on 127.0.0.1.
 * The peers are the same on both sides: plain js-libp2p nodes (bench/support/raw-reconnect-node.ts
 * `peer`: TCP, WebSockets, WebRTC-direct, Noise, Yamux, identify, identifyPush, ping, kad-dht on the
 * daemon's protocol, gossipsub), a fresh set of N per side, listening on 127.0.0.1 TCP. libp2p's
 * reconnect queue (which redials the peers kad-dht tags keep-alive, its closest) is held in the raw
 * nodes (`maxParallelReconnects: 0`), as the daemon switches its own off: nothing redials on its own,
 * every connection of a round is dialled by the hub.
 * Switchboard: the hub is `switchboard start` on the default configuration as users start it
 * (bench/support/default-daemon.ts: the bundle, listeners on 0.0.0.0, LevelDB peer store, mDNS on; only
 * the request rate limit raised). Its client meets each peer once (`peers.connect` with its address,
 * the warm-up round), then per round: `peers.disconnect` for each peer (all at once) until `node.info`
 * counts no connection, then `peers.connectMany {peerIds, concurrency: N}`; connected = that answer
 * (every result a success; a peer actor is connected once the remote identified on the connection,
 * src/p2p/connection-confirmations.ts), checked by `node.info` counting N connections.
 * raw: the hub is the same program in `hub` mode: `hangUp` on each peer, then `dial` of all N at once;
 * connected = every dial resolved and every connection's identify finished (`peer:identify`).
 * CPU: utime+stime of each process from /proc/<pid>/stat (10 ms ticks), from just before the dials to
 * when the hub has settled after the last connection (two 100 ms windows in a row in which it used at
 * most one tick, at most 3 s), so the work a connection brings after it opens (identify, identify-push,
 * the DHT and gossipsub streams, the peer store's writes, the client's pushes) counts; the hub waits for
 * the same quiet before each round's dials too. Hang-ups are timed and counted separately.
 *
 * Env: BENCH_RECONNECT_PEERS (8), BENCH_RECONNECT_ROUNDS (10, after one warm-up round), and
 * SWITCHBOARD_BENCH_CPU_PROF=<dir>: both hubs under --cpu-prof (the daemon as default-daemon.ts does it);
 * <dir>/reconnect-windows.json then holds each hub's counted rounds as CLOCK_MONOTONIC µs, the
 * clock V8 stamps profiles with, so a summary can leave start-up and stop out.
 */

const PEERS = Number(process.env.BENCH_RECONNECT_PEERS ?? 8)
const ROUNDS = Number(process.env.BENCH_RECONNECT_ROUNDS ?? 10)
const TIMEOUT_MS = 60_000
const QUIET_WINDOW_MS = 100
const QUIET_MAX_MS = 3_000

// ---- processes and their CPU ----

/** Ids of this process's live children. */
function childPids(): Set<number> {
  const out = new Set<number>()
  for (const tid of readdirSync('/proc/self/task')) {
    const text = readFileSync(`/proc/self/task/${tid}/children`, 'utf8').trim()
    for (const pid of text.split(' ')) if (pid !== '') out.add(Number(pid))
  }
  return out
}

const nowUs = () => Number(process.hrtime.bigint() / 1000n)

/** raw-reconnect-node.ts compiled once per run, run by plain Node as a js-libp2p app runs (packages from node_modules). */
const rawNodeScript = compiledOnce('raw-reconnect-node.ts', 'reconnect')

interface Peer {
  process: BenchChild
  peerId: string
  addr: string
}

async function startPeers(n: number): Promise<Peer[]> {
  const script = await rawNodeScript()
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const p = spawnBenchChild([script, 'peer'], { what: `peer ${i}` })
      const [, peerId = '', addr = ''] = (await p.line('peer ')).split(' ')
      return { process: p, peerId, addr: addr.includes('/p2p/') ? addr : `${addr}/p2p/${peerId}` }
    }),
  )
}

/** Wait until `pid` used at most one tick in each of two 100 ms windows in a row (at most 3 s); the ms waited. */
async function settle(pid: number): Promise<number> {
  const t0 = performance.now()
  let quiet = 0
  let last = processCpuMs(pid)
  while (quiet < 2 && performance.now() - t0 < QUIET_MAX_MS) {
    await new Promise((r) => setTimeout(r, QUIET_WINDOW_MS))
    const now = processCpuMs(pid)
    quiet = now - last <= 1000 / CLK_TCK ? quiet + 1 : 0
    last = now
  }
  return performance.now() - t0
}

// ---- one side ----

interface Round {
  /** ms from the dials to all N connected (raw: dials resolved; Switchboard: identified too). */
  connectedMs: number
  /** ms from the dials to all N connected and every connection identified (Switchboard: = connectedMs). */
  identifiedMs: number
  /** Hub CPU ms from the dials to all connected and identified, and to settled. */
  hubCpuConnected: number
  hubCpuSettled: number
  /** The peers' CPU ms, all N together, from the dials to the hub settled. */
  peersCpu: number
  /** Hang-up: ms until all N are gone, hub CPU ms to settled. */
  hangupMs: number
  hubCpuHangup: number
}

interface Hub {
  pid: number
  hangup(): Promise<void>
  /** Connect all N; resolves with [connected ms, identified ms]. */
  connect(): Promise<[number, number]>
  stop(): Promise<void>
}

async function rounds(hub: Hub, peers: Peer[], side: string): Promise<{ rounds: Round[]; windowUs: [number, number] }> {
  const out: Round[] = []
  const peersCpu = () => peers.reduce((sum, p) => sum + processCpuMs(p.process.pid), 0)
  let from = 0
  for (let round = 0; round <= ROUNDS; round++) {
    if (round === 1) from = nowUs()
    // the peers too: after a connection they look each other up in the DHT and may dial each other,
    // and libp2p refuses more than 5 inbound connections a second from one host (all are 127.0.0.1)
    await Promise.all([hub.pid, ...peers.map((p) => p.process.pid)].map(settle))
    const h0 = processCpuMs(hub.pid)
    const th = performance.now()
    await hub.hangup()
    const hangupMs = performance.now() - th
    await settle(hub.pid)
    const hubCpuHangup = processCpuMs(hub.pid) - h0
    const c0 = processCpuMs(hub.pid)
    const p0 = peersCpu()
    // the warm-up round may meet what the first connections set off (see above): up to 3 tries, as a
    // daemon's peers.connect has; a counted round gets one
    let answer: [number, number] | undefined
    for (let tries = 1; answer === undefined; tries++) {
      answer = await hub.connect().catch((err: unknown) => {
        if (round > 0 || tries === 3) throw err
        process.stdout.write(`reconnect ${side} warm-up: try ${tries} failed (${String(err).slice(0, 200)})\n`)
        return undefined
      })
    }
    const [connectedMs, identifiedMs] = answer
    const hubCpuConnected = processCpuMs(hub.pid) - c0
    await settle(hub.pid)
    const r: Round = {
      connectedMs,
      identifiedMs,
      hubCpuConnected,
      hubCpuSettled: processCpuMs(hub.pid) - c0,
      peersCpu: peersCpu() - p0,
      hangupMs,
      hubCpuHangup,
    }
    if (round > 0) out.push(r)
    process.stdout.write(
      `reconnect ${side} ${round === 0 ? 'warm-up' : `round ${round}`}: ${fmt(identifiedMs)} ms to all connected and identified, hub ${fmt(r.hubCpuSettled)} ms CPU, peers ${fmt(r.peersCpu)} ms CPU; hang-up ${fmt(hangupMs)} ms\n`,
    )
  }
  return { rounds: out, windowUs: [from, nowUs()] }
}

async function switchboardHub(peers: Peer[]): Promise<Hub> {
  const before = childPids()
  const daemon = await startDefaultDaemon({ profileName: 'reconnect-hub-daemon' })
  const pid = [...childPids()].find((p) => !before.has(p) && !peers.some((x) => x.process.pid === p))
  if (pid === undefined) throw new Error('cannot find the daemon process')
  const client: SwitchboardClient = await daemon.client()
  const peerIds = peers.map((p) => p.peerId)
  const connections = async () => (await client.call<{ connections: number }>('node.info', {})).connections
  const until = async (what: string, ok: () => Promise<boolean>) => {
    const deadline = Date.now() + TIMEOUT_MS
    while (!(await ok())) {
      if (Date.now() > deadline) throw new Error(`daemon hub: ${what} within ${TIMEOUT_MS} ms`)
      await new Promise((r) => setTimeout(r, 5))
    }
  }
  // meet each peer once, by its address (into the address book as `manual`): later rounds dial by peer id
  const met = await Promise.all(peers.map((p) => client.call<{ success: boolean }>('peers.connect', { peerId: p.peerId, addrs: [p.addr] })))
  if (!met.every((r) => r.success)) throw new Error(`daemon hub: a first connect failed: ${JSON.stringify(met)}`)
  return {
    pid,
    async hangup() {
      await Promise.all(peerIds.map((peerId) => client.call('peers.disconnect', { peerId })))
      await until('connections still open', async () => (await connections()) === 0)
    },
    async connect() {
      const t0 = performance.now()
      const { results } = await client.call<{ results: Record<string, { success: boolean; error?: string }> }>('peers.connectMany', {
        peerIds,
        concurrency: peerIds.length,
      })
      const ms = performance.now() - t0
      const failed = Object.entries(results).filter(([, r]) => !r.success)
      if (failed.length > 0) throw new Error(`daemon hub: connectMany failed for ${JSON.stringify(failed)}`)
      const open = await connections()
      if (open !== peerIds.length) throw new Error(`daemon hub: ${open} connections open, expected ${peerIds.length}`)
      return [ms, ms]
    },
    stop: () => daemon.stop(),
  }
}

async function rawHub(peers: Peer[], profDir: string | undefined): Promise<Hub> {
  const script = await rawNodeScript()
  const nodeArgs = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=reconnect-hub-raw-${Date.now()}.cpuprofile`] : []
  const hub = spawnBenchChild([...nodeArgs, script, 'hub', ...peers.map((p) => p.addr)], { what: 'raw hub' })
  await hub.line('hub ')
  /** Send `dial`; the line it answers, `up ...` or `fail ...`. */
  const dial = async () => {
    hub.send('dial')
    return hub.line(['up ', 'fail '])
  }
  // meet each peer once, as the daemon's warm-up does, with as many tries as its peers.connect (connectTries 3)
  for (let tries = 1; !(await dial()).startsWith('up '); tries++) {
    if (tries === 3) throw new Error('raw hub: the first dials failed 3 times')
  }
  return {
    pid: hub.pid,
    async hangup() {
      hub.send('hangup')
      await hub.line('down')
    },
    async connect() {
      const answer = await dial()
      if (!answer.startsWith('up ')) throw new Error(`raw hub: ${answer}`)
      const [, dialled = '', identified = ''] = answer.split(' ')
      return [Number(dialled), Number(identified)]
    },
    stop: () => hub.stop(),
  }
}

interface Side {
  rounds: Round[]
  windowUs: [number, number]
}

async function side(which: 'switchboard' | 'raw', profDir: string | undefined): Promise<Side> {
  const peers = await startPeers(PEERS)
  // their start-up (module loading, the DHT's first queries) is over before a hub starts
  await Promise.all(peers.map((p) => settle(p.process.pid)))
  let hub: Hub | undefined
  try {
    hub = which === 'switchboard' ? await switchboardHub(peers) : await rawHub(peers, profDir)
    return await rounds(hub, peers, which)
  } finally {
    await hub?.stop()
    await Promise.all(peers.map((p) => p.process.stop()))
  }
}

// ---- figures ----

export interface ReconnectResult {
  peers: number
  /** 1-minute load average as the run started (the published table has it as the run ended). */
  loadAtStart: number
  switchboard: Side
  raw: Side
}

function toMarkdown(r: ReconnectResult): string {
  const perConn = (xs: number[]) => median(xs.map((x) => x / r.peers))
  const col = (s: Side, f: (x: Round) => number, perConnection = false) => {
    const xs = s.rounds.map(f)
    return perConnection ? perConn(xs) : median(xs)
  }
  const rows: [string, (x: Round) => number, boolean][] = [
    ['wall ms, dials → all N connected and identified', (x) => x.identifiedMs, false],
    ['hub CPU ms per connection, dials → all connected and identified', (x) => x.hubCpuConnected, true],
    ['hub CPU ms per connection, dials → hub settled', (x) => x.hubCpuSettled, true],
    ["peers' CPU ms per connection (all N), dials → hub settled", (x) => x.peersCpu, true],
    ['hang-up of all N: wall ms', (x) => x.hangupMs, false],
    ['hang-up: hub CPU ms per connection', (x) => x.hubCpuHangup, true],
  ]
  const table = markdownTable(
    ['p50 over rounds', 'Switchboard', 'raw js-libp2p', 'Switchboard/raw'],
    rows.map(([name, f, pc]) => {
      const sb = col(r.switchboard, f, pc)
      const raw = col(r.raw, f, pc)
      return [name, fmt(sb), fmt(raw), `${fmt(sb / raw)}×`]
    }),
  )
  return [
    `### Reconnect: a hub hangs up on ${r.peers} peers and connects to all ${r.peers} at once`,
    '',
    `${r.switchboard.rounds.length} rounds per side after a warm-up round; p50 over rounds; every node its own process on 127.0.0.1; the ${r.peers} peers are plain js-libp2p nodes (bench/support/raw-reconnect-node.ts: TCP, WebSockets, WebRTC-direct, Noise, Yamux, identify, identifyPush, ping, kad-dht, gossipsub), a fresh set per side, dialled over TCP; nothing redials on its own.`,
    'Switchboard hub: `switchboard start` on the defaults (the bundle; LevelDB peer store, mDNS, relay server, autoNAT), its client calling `peers.disconnect` per peer, then `peers.connectMany` with concurrency N; connected and identified = its answer (a peer actor is connected once the remote identified on the connection; `node.info` then counts N connections).',
    "raw hub: createLibp2p with the same transports, Noise, Yamux and the same default services (in-memory stores; libp2p's reconnect queue held, as the daemon switches its own off), `hangUp` then `dial` of all N; connected and identified = every dial resolved and every `peer:identify` fired.",
    'CPU: utime+stime from /proc/<pid>/stat (10 ms ticks) per round divided by N; "settled" = until the hub used at most one tick in two 100 ms windows in a row (max 3 s), so identify, DHT and gossipsub streams and the peer store writes after the connection count.',
    '',
    table,
    '',
    `Load (1 min) as the run started: ${r.loadAtStart}.`,
    `raw, dials → all N dials resolved (identify still running): p50 ${fmt(col(r.raw, (x) => x.connectedMs))} ms.`,
  ].join('\n')
}

export async function run(): Promise<ReconnectResult> {
  const loadAtStart = Math.round((loadavg()[0] ?? 0) * 100) / 100
  const profDir = process.env.SWITCHBOARD_BENCH_CPU_PROF
  if (profDir) await mkdir(profDir, { recursive: true })
  // bundled and compiled before any clock starts
  await daemonArgs()
  await rawNodeScript()
  const switchboard = await side('switchboard', profDir)
  const raw = await side('raw', profDir)
  if (profDir) {
    await writeFile(
      join(profDir, 'reconnect-windows.json'),
      `${JSON.stringify({ switchboard: switchboard.windowUs, raw: raw.windowUs })}\n`,
    )
  }
  const result = { peers: PEERS, loadAtStart, switchboard, raw }
  await publish('reconnect', toMarkdown(result))
  return result
}

runIfMain(import.meta.url, run)
