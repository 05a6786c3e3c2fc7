import '../src/shims.ts'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { yamux } from '@libp2p/yamux'
import { createLibp2p, type Libp2p } from 'libp2p'
import { SwitchboardClient } from '../src/client/switchboard-client.ts'
import { startTestDaemon } from '../test/support/daemon.ts'
import { teachAddress } from '../test/support/peers.ts'
import { fmt, machineInfo, markdownTable, median, percentile, publish, runIfMain } from './machine.ts'
import { loopbackTcp, startDefaultDaemon } from './support/default-daemon.ts'
import { startRawMessagesNode } from './support/raw-messages-node.ts'

/**
 * Direct messages with end-to-end acks: two daemons on loopback, a WebSocket client on each; A's
 * client sends 1 KiB messages to B and times each from `send` to its `ack` push (B's daemon pushed
 * `peerData` to B's client and acked over libp2p). Baseline: two plain js-libp2p nodes (TCP, Noise,
 * Yamux), one stream, length-prefixed 1 KiB frames, the receiver echoing a 4-byte ack frame.
 * A second baseline puts the raw libraries in the daemons' topology: each js-libp2p node in its own
 * process behind a bare `ws` server (bench/support/raw-messages-node.ts), driven by the same client
 * code, so the same WebSocket and libp2p hops between the same three processes.
 */

const PLAN = {
  warmup: 500,
  /**
   * Then one at a time, before the timed ones: a fresh daemon's path settles only after a few thousand
   * (p50 of successive 1,000s in a probe, session 29: 2.0, 1.2, 0.65, 0.59 ms; the same after 8 s idle,
   * so it is the code warming up, not start-up work), where 500 at 32 in flight left it half-way.
   */
  warmupSequential: 3_000,
  /** One message at a time: latency without queueing. */
  sequential: 2_000,
  /** Messages with up to `window` in flight: throughput, and latency under load. */
  pipelined: 20_000,
  window: 256,
}
const PROTOCOL = '/bench/messages/1.0.0'
const PAYLOAD = 'x'.repeat(1024)
const ACK_TIMEOUT_MS = 60_000

interface Figures {
  messages: number
  /** send -> ack, ms */
  latencies: Float64Array
  seconds: number
}

/** A sender that resolves each message when its ack arrives. */
interface Sender {
  send(n: number): Promise<void>
  close(): Promise<void>
  /** After the run: throws if what the receiver saw does not match the acks. */
  check?(): Promise<void>
}

/** Run `count` sends with at most `window` unacknowledged at once. */
async function drive(sender: Sender, count: number, window: number): Promise<Figures> {
  const latencies = new Float64Array(count)
  let next = 0
  const started = performance.now()
  const worker = async () => {
    while (next < count) {
      const n = next++
      const t0 = performance.now()
      await sender.send(n)
      latencies[n] = performance.now() - t0
    }
  }
  await Promise.all(Array.from({ length: Math.min(window, count) }, worker))
  return { messages: count, latencies, seconds: (performance.now() - started) / 1000 }
}

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no ack within ${ACK_TIMEOUT_MS} ms`)), ACK_TIMEOUT_MS)
    }),
  ])
}

// ---- Switchboard ---------------------------------------------------------------------------

/**
 * What users run: each daemon in its own process on the defaults (bench/support/default-daemon.ts),
 * A's client connecting to B with `peers.connect`; the clients in this process.
 * `MESSAGES_IN_PROCESS=1`: both daemons in this process on the loopback test config (for profiling).
 */
async function switchboardSender(): Promise<Sender> {
  if (process.env.MESSAGES_IN_PROCESS === '1') return inProcessSender()
  const [a, b] = await Promise.all([startDefaultDaemon({ profileName: 'messages-a' }), startDefaultDaemon({ profileName: 'messages-b' })])
  const [ca, cb] = await Promise.all([a.client(), b.client()])
  await ca.call('peers.connect', { peerId: b.peerId, addrs: [loopbackTcp(b)] })
  return clientSender(ca, cb, b.peerId, async () => {
    await Promise.all([a.stop(), b.stop()])
  })
}

async function inProcessSender(): Promise<Sender> {
  // the per-connection request limit (1,000/s by default) would cap the figure at itself
  const unlimited = { rateLimitPerSecond: 1_000_000, rateLimitBurst: 1_000_000 }
  const [a, b] = await Promise.all([startTestDaemon(unlimited), startTestDaemon(unlimited)])
  teachAddress(a, b)
  const [ca, cb] = (await Promise.all([a.client(), b.client()])) as [SwitchboardClient, SwitchboardClient]
  return clientSender(ca, cb, b.peerId, async () => {
    await Promise.all([a.destroy(), b.destroy()])
  })
}

/** A's client sends to B's peer id; B's client counts what it got. */
async function clientSender(ca: SwitchboardClient, cb: SwitchboardClient, bPeerId: string, close: () => Promise<void>): Promise<Sender> {
  await Promise.all([ca.call('start', { protocol: PROTOCOL }), cb.call('start', { protocol: PROTOCOL })])
  let received = 0
  cb.on('peerData', () => {
    received += 1
  })
  const waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>()
  ca.on<{ ack: number; delivered: boolean; error?: string }>('ack', ({ ack, delivered, error }) => {
    const w = waiting.get(ack)
    waiting.delete(ack)
    if (delivered) w?.resolve()
    else w?.reject(new Error(`message ${ack} not delivered: ${error}`))
  })
  let ackNo = 0
  return {
    send() {
      const ack = ackNo++
      const acked = new Promise<void>((resolve, reject) => waiting.set(ack, { resolve, reject }))
      return withTimeout(
        ca.call('send', { peer: bPeerId, protocol: PROTOCOL, data: PAYLOAD, ack }).then(() => acked),
        `switchboard message ${ack}`,
      )
    },
    close,
    async check() {
      // B pushes peerData to its client and acks over libp2p at once: the last acks can reach A's
      // client (another process) before the last peerData pushes reach B's, so give those a moment
      const until = performance.now() + 10_000
      while (received < ackNo && performance.now() < until) await new Promise((r) => setTimeout(r, 10))
      if (received !== ackNo) throw new Error(`B's client saw ${received} of ${ackNo} acknowledged messages`)
    },
  }
}

// ---- raw js-libp2p -------------------------------------------------------------------------

/** The raw libraries in the daemons' topology: two processes, each a js-libp2p node behind a bare ws server; the same client calls. */
async function rawProcessSender(): Promise<Sender> {
  const a = await startRawMessagesNode(undefined, 'messages-raw-a')
  const b = await startRawMessagesNode(a.addr, 'messages-raw-b')
  const [ca, cb] = await Promise.all([SwitchboardClient.connect(a.wsUrl), SwitchboardClient.connect(b.wsUrl)])
  return clientSender(ca, cb, b.peerId, async () => {
    await Promise.all([ca.close(), cb.close()])
    await Promise.all([a.stop(), b.stop()])
  })
}

function rawNode(): Promise<Libp2p> {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
  })
}

async function rawSender(): Promise<Sender> {
  const [a, b] = await Promise.all([rawNode(), rawNode()])
  await b.handle(PROTOCOL, async (stream) => {
    const lp = lpStream(stream)
    try {
      while (true) {
        const frame = await lp.read()
        // echo the message's sequence number (its first 4 bytes) as the ack
        await lp.write(frame.subarray(0, 4))
      }
    } catch {
      // the sender closed the stream
    }
  })
  await a.dial(b.getMultiaddrs()[0] as never)
  const stream = await a.dialProtocol(b.peerId, PROTOCOL)
  const lp = lpStream(stream)
  const waiting = new Map<number, () => void>()
  void (async () => {
    try {
      while (true) {
        const ack = await lp.read()
        const n = ack.getUint32(0)
        waiting.get(n)?.()
        waiting.delete(n)
      }
    } catch {
      // closed at the end of the run
    }
  })()
  const payload = new TextEncoder().encode(PAYLOAD)
  return {
    send(n: number) {
      const frame = new Uint8Array(4 + payload.length)
      new DataView(frame.buffer).setUint32(0, n)
      frame.set(payload, 4)
      const acked = new Promise<void>((resolve) => waiting.set(n, resolve))
      return withTimeout(
        lp.write(frame).then(() => acked),
        `raw message ${n}`,
      )
    },
    async close() {
      await stream.close().catch(() => {})
      await Promise.all([a.stop(), b.stop()])
    },
  }
}

// ---- run -----------------------------------------------------------------------------------

interface Side {
  sequential: Figures
  pipelined: Figures
}

async function measure(make: () => Promise<Sender>): Promise<Side> {
  const sender = await make()
  try {
    // the raw sender numbers messages itself; the Switchboard one ignores the number
    let offset = 0
    const numbered: Sender = { send: (n) => sender.send(offset + n), close: () => sender.close() }
    await drive(numbered, PLAN.warmup, 32)
    offset += PLAN.warmup
    await drive(numbered, PLAN.warmupSequential, 1)
    offset += PLAN.warmupSequential
    const sequential = await drive(numbered, PLAN.sequential, 1)
    offset += PLAN.sequential
    const pipelined = await drive(numbered, PLAN.pipelined, PLAN.window)
    await sender.check?.()
    return { sequential, pipelined }
  } finally {
    await sender.close()
  }
}

const rate = (f: Figures) => f.messages / f.seconds

/** One scenario over the runs: the median of each figure. */
interface Summary {
  messages: number
  p50: number
  p99: number
  rate: number
}

function summary(runs: Figures[]): Summary {
  return {
    messages: runs[0]?.messages ?? 0,
    p50: median(runs.map((f) => percentile(f.latencies, 50))),
    p99: median(runs.map((f) => percentile(f.latencies, 99))),
    rate: median(runs.map(rate)),
  }
}

function row(label: string, sbRuns: Figures[], rawRuns: Figures[]): (string | number)[] {
  const sb = summary(sbRuns)
  const raw = summary(rawRuns)
  return [
    label,
    fmt(sb.messages, 0),
    fmt(sb.p50, 3),
    fmt(sb.p99, 3),
    fmt(sb.rate, 0),
    fmt(raw.p50, 3),
    fmt(raw.p99, 3),
    fmt(raw.rate, 0),
    `${fmt(sb.rate / raw.rate, 2)}×`,
  ]
}

/** Whole runs per side, alternating so drift on the machine touches both alike; the table shows medians. */
const REPEATS = 3

export async function run(): Promise<{ switchboard: Side[]; raw: Side[]; rawProcesses: Side[] }> {
  const switchboardRuns: Side[] = []
  const rawRuns: Side[] = []
  const rawProcessRuns: Side[] = []
  // alternate the three so drift on the machine touches all alike
  for (let i = 0; i < REPEATS; i++) {
    process.stdout.write(`messages: run ${i + 1}/${REPEATS}, Switchboard, raw js-libp2p in one process, raw in two processes...\n`)
    switchboardRuns.push(await measure(switchboardSender))
    rawRuns.push(await measure(rawSender))
    rawProcessRuns.push(await measure(rawProcessSender))
  }
  const of = (runs: Side[], key: keyof Side) => runs.map((r) => r[key])
  const table = (raw: Side[]) =>
    markdownTable(
      ['1 KiB messages', 'Messages', 'p50 ms', 'p99 ms', 'msg/s', 'raw p50 ms', 'raw p99 ms', 'raw msg/s', 'msg/s Switchboard/raw'],
      [
        row('one at a time', of(switchboardRuns, 'sequential'), of(raw, 'sequential')),
        row(`${PLAN.window} in flight`, of(switchboardRuns, 'pipelined'), of(raw, 'pipelined')),
      ],
    )
  const body = [
    '### Direct messages with acks',
    '',
    `Switchboard: ${process.env.MESSAGES_IN_PROCESS === '1' ? 'two in-process daemons on the loopback test config' : "two daemons, each in its own process on the default configuration (`switchboard start`: listeners on 0.0.0.0, mDNS on), A's client connecting them with `peers.connect` to B's 127.0.0.1 TCP address"}, a WebSocket client on each, in the bench process. A's client sends \`send {peer, protocol, data: <1024-char string>, ack}\`; latency is from the \`send\` call to the \`ack {delivered: true}\` push, which comes after B's daemon pushed \`peerData\` to B's client and acked over libp2p. ${fmt(PLAN.warmup, 0)} warm-up messages first (32 in flight), then ${fmt(PLAN.warmupSequential, 0)} one at a time (a fresh daemon's path takes a few thousand to settle), each side. Median of ${REPEATS} runs per side, alternating. The per-connection request rate limit is lifted for the run (config.json).`,
    'raw: two plain js-libp2p nodes (TCP, Noise, Yamux) in the same process, one stream, 1 KiB length-prefixed frames; the receiver answers each with a 4-byte ack frame. No WebSocket, no JSON, no retries or ordering bookkeeping.',
    '',
    table(rawRuns),
    '',
    'The same Switchboard runs against the raw libraries in the same topology: each js-libp2p node (TCP, Noise, Yamux, identify) in its own process behind a bare `ws` server that only starts the protocol, sends and pushes (bench/support/raw-messages-node.ts): one stream per peer, each message a length-prefixed frame (a 4-byte number, then the JSON text of `data`), the receiver pushing `peerData` to its client and answering with the number, the sender then pushing `ack {ack, delivered: true}`; driven by the same client code: the same three processes and the same WebSocket and libp2p hops. No envelope checks, limits, retries or dedup; each push and each frame is written on its own, nothing batched.',
    '',
    table(rawProcessRuns),
  ].join('\n')
  // BENCH_DRY=1 (profiling runs): print, do not record
  if (process.env.BENCH_DRY === '1') process.stdout.write(`load ${machineInfo().load}\n${body}\n`)
  else await publish('messages', body)
  return { switchboard: switchboardRuns, raw: rawRuns, rawProcesses: rawProcessRuns }
}

runIfMain(import.meta.url, run)
