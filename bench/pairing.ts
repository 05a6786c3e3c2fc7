import '../src/shims.ts'
import { rm } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import type { Libp2p, PeerId, PrivateKey } from '@libp2p/interface'
import { KEEP_ALIVE } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { MemoryDatastore } from 'datastore-core'
import { createLibp2p } from 'libp2p'
import { CID } from 'multiformats/cid'
import type { SwitchboardClient } from '../src/client/switchboard-client.ts'
import { createNode } from '../src/p2p/node-factory.ts'
import type { PeerState } from '../src/server/peer-state.ts'
import { tempDir } from '../test/support/daemon.ts'
import { LOOPBACK_DEFAULT_LISTEN } from '../test/support/listen.ts'
import { PeerStates } from '../test/support/peers.ts'
import { type ProcessDaemon, startProcessDaemon } from '../test/support/process-daemon.ts'
import { daemonArgs } from './support/default-daemon.ts'
import { appendResults, fmt, markdownTable, median, percentile, resultSection, runIfMain } from './machine.ts'
import { noise as randomBytes } from '../test/files/support.ts'

/**
 * Two paired devices as users run them: two `switchboard start` processes (default configuration:
 * TCP, WebSockets and WebRTC-direct listeners, here bound to 127.0.0.1, mDNS off), paired through
 * the WebSocket API (pairing.create / pairing.join), each with its own data directory.
 *
 * (a) Reconnect: B is stopped (SIGTERM) and started again, RESTARTS times; from B's node being up
 *     (its TCP listener accepts, on the port it had) until A's client is pushed B `connected`, and until both sides show the
 *     other connected after a sync that set a newer lastSyncAt. Nobody calls anything in between.
 *     Raw js-libp2p in the same run: two plain libp2p nodes (TCP, Noise, Yamux, identify), each
 *     tagging the other KEEP_ALIVE so libp2p's own reconnect queue redials it; Y is stopped and
 *     started again (same key, peer store and port): from Y's TCP listener accepting until X has the connection.
 * (b) Sync: B stores a 100 MiB directory (4 files of 25 MiB of fresh random bytes, PUT /files)
 *     while the two are apart; A connects (peers.connect) and its peer actor syncs it: from A's
 *     `syncing` push to its `connected` push. Raw Helia in the same run: a plain Helia node (built as
 *     the daemons build theirs, blocks on disk) fetches the same DAG from daemon B over bitswap with
 *     `pins.add`. bench/sync.ts measures the sync service itself against raw Helia in one process.
 *
 * Prints its section; `--record` also appends it to bench/results.md.
 */

const RESTARTS = Number(process.env.BENCH_PAIRING_RESTARTS ?? 20)
const ROUNDS = Number(process.env.BENCH_PAIRING_ROUNDS ?? 3)
const MiB = 1024 * 1024
const FILES = 4
const FILE_MIB = 25

interface Created {
  ticket: string
}

const log = (msg: string) => process.stdout.write(`pairing: ${msg}\n`)
const stats = (v: number[]) => ({ p50: median(v), p99: percentile(v, 99), min: Math.min(...v), max: Math.max(...v) })

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })

/** performance.now() when a TCP connection to 127.0.0.1:port is first accepted (the listener is up). */
async function listenerUp(port: number, timeoutMs = 120_000): Promise<number> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const at = await new Promise<number | undefined>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port })
      socket.once('connect', () => {
        const now = performance.now()
        socket.destroy()
        resolve(now)
      })
      socket.once('error', () => resolve(undefined))
    })
    // a second connection must be accepted too: the daemon's own free-port check binds the port for a moment
    if (at !== undefined && (await accepts(port))) return at
    if (performance.now() > deadline) throw new Error(`nothing listened on 127.0.0.1:${port} within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 2))
  }
}

const tcpPort = (addrs: string[]) => {
  const m = addrs.map((a) => /^\/ip4\/127\.0\.0\.1\/tcp\/(\d+)(\/p2p\/.*)?$/.exec(a)).find((x) => x !== null)
  return m ? Number(m[1]) : undefined
}

/** A device: a daemon process over a data directory that outlives it. */
async function device(dataDir: string) {
  const self = {
    dataDir,
    daemon: undefined as unknown as ProcessDaemon,
    client: undefined as unknown as SwitchboardClient,
    states: undefined as unknown as PeerStates,
    /** performance.now() when the banner was read. */
    upAt: 0,
    async start() {
      self.daemon = await startProcessDaemon({
        dataDir,
        listen: LOOPBACK_DEFAULT_LISTEN,
        startTimeoutMs: 120_000,
        command: await daemonArgs(),
      })
      self.upAt = performance.now()
      self.client = await self.daemon.client()
      self.states = await PeerStates.bind(self.client)
      return self
    },
    stop: () => self.daemon.stop(),
  }
  return self.start()
}

/** Resolve with performance.now() at the first `peer.state` push for `peerId` that satisfies `predicate`. */
function pushedAt(client: SwitchboardClient, peerId: string, predicate: (s: PeerState) => boolean, timeoutMs = 120_000): Promise<number> {
  return client.waitFor<PeerState>('peer.state', (s) => s.peerId === peerId && predicate(s), timeoutMs).then(() => performance.now())
}

async function reconnects(a: Awaited<ReturnType<typeof device>>, b: Awaited<ReturnType<typeof device>>) {
  const connected: number[] = []
  const synced: number[] = []
  const banner: number[] = []
  let sameAll = true
  const bId = b.daemon.peerId
  const aId = a.daemon.peerId
  for (let i = 0; i < RESTARTS; i++) {
    const lastA = a.states.latest(bId)?.lastSyncAt ?? 0
    const lastB = b.states.latest(aId)?.lastSyncAt ?? 0
    await b.stop()
    await a.states.until(bId, (s) => s.status !== 'connected' && s.status !== 'syncing')
    // A's pushes from here on: the first connected one, and the first after a newer sync
    const aConnected = pushedAt(a.client, bId, (s) => s.status === 'connected' || s.status === 'syncing')
    const aSynced = pushedAt(a.client, bId, (s) => s.status === 'connected' && (s.lastSyncAt ?? 0) > lastA)
    const port = tcpPort(b.daemon.addrs)
    const probe = port === undefined ? undefined : listenerUp(port)
    await b.start()
    // B's node is up when its TCP listener accepts (the same port: a restarted daemon takes its ports
    // back); the banner comes later, once the HTTP server listens too
    const samePort = port !== undefined && tcpPort(b.daemon.addrs) === port
    if (!samePort) sameAll = false
    const upAt = samePort ? ((await probe) ?? b.upAt) : b.upAt
    const bSynced = await b.states
      .until(aId, (s) => s.status === 'connected' && (s.lastSyncAt ?? 0) > lastB, 120_000)
      .then(() => performance.now())
    const [ac, as] = await Promise.all([aConnected, aSynced])
    connected.push(ac - upAt)
    synced.push(Math.max(as, bSynced) - upAt)
    banner.push(b.upAt - upAt)
    log(
      `restart ${i + 1}/${RESTARTS}: A sees B connected ${fmt(ac - upAt)} ms, both synced ${fmt(synced.at(-1) ?? 0)} ms after B's listener (banner at ${fmt(b.upAt - upAt)} ms)`,
    )
  }
  return { connected, synced, banner, sameAll }
}

/** Two raw libp2p nodes; Y restarts `RESTARTS` times with its key, peer store and port. */
async function rawReconnects(): Promise<number[]> {
  const build = (privateKey: PrivateKey, datastore: MemoryDatastore, port: number) =>
    createLibp2p({
      privateKey,
      datastore,
      start: false,
      addresses: { listen: [`/ip4/127.0.0.1/tcp/${port}`] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify() },
    })
  const [xKey, yKey] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
  const yStore = new MemoryDatastore()
  const x = await build(xKey, new MemoryDatastore(), 0)
  await x.start()
  let y: Libp2p = await build(yKey, yStore, 0)
  await y.start()
  const yPort = Number(/\/tcp\/(\d+)/.exec(y.getMultiaddrs()[0]?.toString() ?? '')?.[1])
  const times: number[] = []
  const connectedTo = (node: Libp2p, peer: PeerId) => node.getConnections(peer).some((c) => c.status === 'open')
  try {
    // each keeps the other alive: libp2p's reconnect queue redials it
    await y.peerStore.merge(x.peerId, { multiaddrs: x.getMultiaddrs(), tags: { [KEEP_ALIVE]: { value: 1 } } })
    await x.peerStore.merge(y.peerId, { multiaddrs: y.getMultiaddrs(), tags: { [KEEP_ALIVE]: { value: 1 } } })
    await x.dial(y.peerId)
    for (let i = 0; i < RESTARTS; i++) {
      const gone = new Promise<void>((resolve) => {
        const check = () => {
          if (connectedTo(x, y.peerId)) return
          x.removeEventListener('peer:disconnect', check)
          resolve()
        }
        x.addEventListener('peer:disconnect', check)
      })
      await y.stop()
      await gone
      y = await build(yKey, yStore, yPort)
      const back = new Promise<number>((resolve) => {
        const onOpen = () => {
          if (!connectedTo(x, y.peerId)) return
          x.removeEventListener('connection:open', onOpen)
          resolve(performance.now())
        }
        x.addEventListener('connection:open', onOpen)
      })
      const up = listenerUp(yPort)
      await y.start()
      times.push((await back) - (await up))
    }
    return times
  } finally {
    await Promise.allSettled([x.stop(), y.stop()])
  }
}

async function put(d: ProcessDaemon, path: string, body: Uint8Array<ArrayBuffer>): Promise<{ fileCid: string; rootCid: string }> {
  const res = await fetch(`${d.origin}/files/peer-a/${path}`, { method: 'PUT', headers: { authorization: `Bearer ${d.token}` }, body })
  if (!res.ok) throw new Error(`PUT ${path}: ${res.status} ${await res.text()}`)
  return (await res.json()) as { fileCid: string; rootCid: string }
}

async function syncRounds(a: Awaited<ReturnType<typeof device>>, b: Awaited<ReturnType<typeof device>>, rawDir: string) {
  const bId = b.daemon.peerId
  const aId = a.daemon.peerId
  const bytes = FILES * FILE_MIB * MiB
  const sync: number[] = []
  const raw: number[] = []
  const failures: string[] = []
  const transports: string[] = []
  // apart while B's directory changes: neither redials the other
  await a.client.call('peers.update', { peerId: bId, autoConnect: false })
  await b.client.call('peers.update', { peerId: aId, autoConnect: false })
  const bAddr = b.daemon.addrs.find((s) => s.includes('/tcp/') && !s.includes('/ws'))
  if (bAddr === undefined) throw new Error(`no TCP address for B among ${b.daemon.addrs.join(' ')}`)
  for (let round = 0; round < ROUNDS; round++) {
    await a.client.call('peers.disconnect', { peerId: bId })
    await a.states.until(bId, (s) => s.status === 'disconnected')
    await fetch(`${b.daemon.origin}/files/peer-a/bench`, { method: 'DELETE', headers: { authorization: `Bearer ${b.daemon.token}` } })
    let root = ''
    for (let i = 0; i < FILES; i++)
      root = (await put(b.daemon, `bench/part-${i}.bin`, randomBytes(FILE_MIB * MiB, round * 100 + i + 1))).rootCid
    log(`sync round ${round + 1}/${ROUNDS}: B stored ${FILES * FILE_MIB} MiB, A connects`)
    const last = a.states.latest(bId)?.lastSyncAt ?? 0
    const syncing = pushedAt(a.client, bId, (s) => s.status === 'syncing', Number(process.env.BENCH_PAIRING_SYNC_WAIT_MS ?? 300_000))
    a.states.reset(bId)
    const timeline: string[] = []
    const off = a.client.on<PeerState>('peer.state', (s) => {
      if (s.peerId === bId && process.env.BENCH_PAIRING_DEBUG)
        timeline.push(`${fmt(performance.now())} ${s.status} ${JSON.stringify(s.sync)}`)
    })
    await a.client.call('peers.connect', { peerId: bId })
    const from = await syncing.catch((err: Error) => {
      throw new Error(`${err.message}; A was pushed ${a.states.statuses(bId).join(' ')}, last ${JSON.stringify(a.states.latest(bId))}`)
    })
    // a sync that fails (stalls) returns the actor to connected with lastError and the old lastSyncAt
    const end = await a.states.until(bId, (s) => s.status === 'connected', 300_000)
    const via = end.connectionType ?? '?'
    if ((end.lastSyncAt ?? 0) > last) sync.push(bytes / 1e6 / ((performance.now() - from) / 1000))
    else failures.push(`round ${round + 1} over ${via}: ${end.lastError}`)
    transports.push(via)
    off()
    if (timeline.length > 0) log(timeline.join('\n'))

    // raw Helia fetches the very same DAG from daemon B
    const node = await createNode({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      bootstrap: [],
      mdns: false,
      dhtProtocol: '/bench-pairing/kad/1.0.0',
      allowPrivateAddresses: true,
      storageDir: join(rawDir, `round-${round}`),
    })
    try {
      await node.libp2p.dial(multiaddr(bAddr.includes('/p2p/') ? bAddr : `${bAddr}/p2p/${bId}`))
      const started = performance.now()
      for await (const _ of node.helia.pins.add(CID.parse(root), { signal: AbortSignal.timeout(300_000) })) void _
      raw.push(bytes / 1e6 / ((performance.now() - started) / 1000))
    } finally {
      await node.stop()
      await rm(join(rawDir, `round-${round}`), { recursive: true, force: true })
    }
    log(`sync round ${round + 1}: Switchboard ${fmt(sync.at(-1) ?? 0)} MB/s, raw Helia ${fmt(raw.at(-1) ?? 0)} MB/s`)
  }
  return { sync, raw, failures, transports }
}

export async function run(opts: { record?: boolean } = {}) {
  const [aDir, bDir, rawDir] = await Promise.all([tempDir('bench-pair-'), tempDir('bench-pair-'), tempDir('bench-pair-')])
  let a: Awaited<ReturnType<typeof device>> | undefined
  let b: Awaited<ReturnType<typeof device>> | undefined
  try {
    a = await device(aDir)
    b = await device(bDir)
    const created = await a.client.call<Created>('pairing.create', { name: 'A' })
    await b.client.call('pairing.join', { ticket: created.ticket, name: 'B' })
    await Promise.all([
      a.states.until(b.daemon.peerId, (s) => s.status === 'connected' && s.lastSyncAt !== null),
      b.states.until(a.daemon.peerId, (s) => s.status === 'connected' && s.lastSyncAt !== null),
    ])
    log('paired and synced')
    const sb = await reconnects(a, b)
    const rawTimes = await rawReconnects()
    log(`raw libp2p: p50 ${fmt(median(rawTimes))} ms, p99 ${fmt(percentile(rawTimes, 99))} ms`)
    const sync = await syncRounds(a, b, rawDir)

    const conn = stats(sb.connected)
    const both = stats(sb.synced)
    const r = stats(rawTimes)
    const s = median(sync.sync)
    const h = median(sync.raw)
    const body = [
      '### Paired devices: reconnect after a restart, and sync of a 100 MiB directory',
      '',
      `Two \`switchboard start\` processes, default configuration (TCP, WebSockets and WebRTC-direct listeners bound to 127.0.0.1, mDNS off), each with its own data directory, paired through the WebSocket API. **Reconnect**: B stopped (SIGTERM) and started again ${RESTARTS} times with no client call; times from B's node being up (its TCP listener accepting again, on the port it had before: a restarted daemon takes its ports back${sb.sameAll ? '' : '; NOT so in some restarts of this run, timed from the banner'}) until A's client is pushed B \`connected\`, and until both sides show the other \`connected\` after a sync with a newer \`lastSyncAt\` (the sync of a small directory, and B's client connecting after the banner, included). B printed its banner (HTTP server up too) ${fmt(median(sb.banner))} ms (median) after its listener accepted. Raw js-libp2p, same run: two plain libp2p 3 nodes (TCP, Noise, Yamux, identify) in this process, each tagging the other KEEP_ALIVE so libp2p's reconnect queue redials it; Y stopped and started again (same key, peer store and port), from Y's TCP listener accepting until X has the connection open.`,
      '',
      markdownTable(
        ['Reconnect after a restart', 'p50 ms', 'p99 ms', 'min ms', 'max ms', 'p50 ratio to raw'],
        [
          ['Switchboard: A pushed B connected', fmt(conn.p50), fmt(conn.p99), fmt(conn.min), fmt(conn.max), `${fmt(conn.p50 / r.p50)}x`],
          [
            'Switchboard: both connected and synced',
            fmt(both.p50),
            fmt(both.p99),
            fmt(both.min),
            fmt(both.max),
            `${fmt(both.p50 / r.p50)}x`,
          ],
          ['raw js-libp2p redial (KEEP_ALIVE)', fmt(r.p50), fmt(r.p99), fmt(r.min), fmt(r.max), '1.00x'],
        ],
      ),
      '',
      `**Sync**: B stores ${FILES} files of ${FILE_MIB} MiB of fresh random bytes (PUT /files) while the two are apart; A's \`peers.connect\`, then its peer actor syncs B's directory: MB/s of file content (10^6 bytes/s) from A's \`syncing\` push to its \`connected\` push. Raw Helia: a plain Helia node built as the daemons build theirs (blocks on disk) fetching the same DAG from daemon B over bitswap with \`pins.add\`. Median of the rounds that synced (Switchboard first in each); A's connection to B in each round: ${sync.transports.join(', ')}.${sync.failures.length > 0 ? ` Failed: ${sync.failures.join('; ')}.` : ''}`,
      '',
      markdownTable(
        ['Sync of 100 MiB', 'MB/s (median)', 'rounds', 'ratio'],
        [
          ['Switchboard: paired peer actor sync', fmt(s), sync.sync.map((v) => fmt(v)).join(', '), `${fmt(s / h)}x`],
          ['raw Helia pins.add from daemon B', fmt(h), sync.raw.map((v) => fmt(v)).join(', '), '1.00x'],
        ],
      ),
    ].join('\n')
    const section = resultSection('pairing', body)
    process.stdout.write(`\n${section}\n`)
    if (opts.record === true) await appendResults(section)
    return { reconnect: sb, raw: rawTimes, sync }
  } finally {
    await Promise.allSettled([a?.daemon.stop(), b?.daemon.stop()])
    await Promise.all([aDir, bDir, rawDir].map((d) => rm(d, { recursive: true, force: true })))
  }
}

runIfMain(import.meta.url, () => run({ record: process.argv.includes('--record') }))
