import '../src/shims.ts'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { SwitchboardClient } from '../src/client/switchboard-client.ts'
import { startTestDaemon } from '../test/support/daemon.ts'
import { fmt, machineInfo, markdownTable, median, percentile, publish, runIfMain } from './machine.ts'
import { loopbackTcp, startDefaultDaemon } from './support/default-daemon.ts'
import { startRawPubsubNode } from './support/raw-pubsub-node.ts'

/**
 * Topic messages, 1 KiB each: two daemons on loopback, a WebSocket client on each; A's client calls
 * `publish` and each message is timed until B's client gets its `topicData` push. Baseline: two plain
 * js-libp2p nodes (TCP, Noise, Yamux, identify, GossipSub) with the same payload, timed from
 * `publish` to B's `message` event. Everything runs in this one process, both sides alike.
 * A second baseline puts the raw libraries in the daemons' topology: each js-libp2p node in its own
 * process behind a bare `ws` server (bench/support/raw-pubsub-node.ts), driven by the same client
 * code, so the same WebSocket and libp2p hops between the same three processes.
 */

const PLAN = {
  warmup: 300,
  /** Then one at a time, before the timed ones: a fresh daemon's path takes a few thousand to settle (as bench/messages.ts found for direct messages). */
  warmupSequential: 2_000,
  /** One message at a time: latency without queueing. */
  sequential: 1_000,
  /** Up to `window` messages published but not yet arrived: throughput, and latency under load. */
  pipelined: 10_000,
  window: 64,
}
/** Whole runs per side, alternating; the table shows the median of each figure. */
const REPEATS = 3
const TOPIC = 'bench-pubsub'
const PAYLOAD_BYTES = 1024
const ARRIVAL_TIMEOUT_MS = 15_000
/** A run in which a message never arrived is repeated, at most this many times, and reported. */
const MAX_ATTEMPTS = 3

/** Message `n` as a 1 KiB JSON string, its number first so the receiver can tell which arrived. */
const payload = (n: number) => `${n}:`.padEnd(PAYLOAD_BYTES, 'x')

interface Figures {
  messages: number
  p50: number
  p99: number
  perSecond: number
}

/** One publisher and one subscriber, ready to go. */
interface Pair {
  publish(n: number): Promise<void>
  /** Calls `fn` with the number of every message the subscriber receives. */
  onArrival(fn: (n: number) => void): void
  close(): Promise<void>
}

/** Publish `count` messages numbered from `first`, at most `window` not yet arrived at once; each timed from publish to arrival. */
async function drive(pair: Pair, arrivals: Map<number, () => void>, first: number, count: number, window: number): Promise<Figures> {
  const latencies = new Float64Array(count)
  let next = 0
  const started = performance.now()
  const worker = async () => {
    while (next < count) {
      const i = next++
      const n = first + i
      let timer: NodeJS.Timeout | undefined
      const arrived = new Promise<void>((resolve, reject) => {
        arrivals.set(n, resolve)
        timer = setTimeout(() => reject(new Error(`message ${n} did not arrive within ${ARRIVAL_TIMEOUT_MS} ms`)), ARRIVAL_TIMEOUT_MS)
      })
      const t0 = performance.now()
      await Promise.all([pair.publish(n), arrived]).finally(() => clearTimeout(timer))
      latencies[i] = performance.now() - t0
    }
  }
  await Promise.all(Array.from({ length: Math.min(window, count) }, worker))
  const seconds = (performance.now() - started) / 1000
  return { messages: count, p50: percentile(latencies, 50), p99: percentile(latencies, 99), perSecond: count / seconds }
}

// ---- Switchboard ---------------------------------------------------------------------------

/**
 * What users run: each daemon in its own process on the defaults (bench/support/default-daemon.ts),
 * B bootstrapping from A; the clients in this process. `PUBSUB_IN_PROCESS=1`: both daemons in this
 * process on the loopback test config instead (for profiling).
 */
async function switchboardPair(): Promise<Pair> {
  if (process.env.PUBSUB_IN_PROCESS === '1') return inProcessPair()
  const a = await startDefaultDaemon({ profileName: 'pubsub-a' })
  const b = await startDefaultDaemon({ profileName: 'pubsub-b', args: ['--bootstrap', loopbackTcp(a)] })
  return clientPair(await a.client(), await b.client(), b.peerId, async () => {
    await Promise.all([a.stop(), b.stop()])
  })
}

async function inProcessPair(): Promise<Pair> {
  // the per-connection request limit (1,000/s by default) would cap the figure at itself
  const unlimited = { rateLimitPerSecond: 1_000_000, rateLimitBurst: 1_000_000 }
  const a = await startTestDaemon(unlimited)
  const b = await startTestDaemon({
    ...unlimited,
    bootstrap: a.core.nodes.info('peer-a').addrs.filter((x) => x.includes('/127.0.0.1/tcp/')),
  })
  const [ca, cb] = (await Promise.all([a.client(), b.client()])) as [SwitchboardClient, SwitchboardClient]
  return clientPair(ca, cb, b.peerId, async () => {
    await Promise.all([a.destroy(), b.destroy()])
  })
}

/** A's client publishes, B's receives; both subscribed once this resolves. */
async function clientPair(ca: SwitchboardClient, cb: SwitchboardClient, bPeerId: string, close: () => Promise<void>): Promise<Pair> {
  // both subscribed: each subscribe returns once the other side is seen on the topic
  const joined = ca.waitFor('peerChange', (p: { peerid: string; joined: boolean }) => p.peerid === bPeerId && p.joined, ARRIVAL_TIMEOUT_MS)
  await Promise.all([ca.call('subscribe', { topic: TOPIC }), cb.call('subscribe', { topic: TOPIC })])
  await joined
  return {
    publish: (n) => ca.call('publish', { topic: TOPIC, data: payload(n) }).then(() => undefined),
    onArrival: (fn) => {
      cb.on<{ topic: string; data: string }>('topicData', (p) => {
        if (p.topic === TOPIC) fn(Number.parseInt(p.data, 10))
      })
    },
    close,
  }
}

// ---- raw js-libp2p -------------------------------------------------------------------------

/** The raw libraries in the daemons' topology: two processes, each a js-libp2p node behind a bare ws server; the same client calls. */
async function rawProcessPair(): Promise<Pair> {
  const a = await startRawPubsubNode(undefined, 'pubsub-raw-a')
  const b = await startRawPubsubNode(a.addr, 'pubsub-raw-b')
  const [ca, cb] = await Promise.all([SwitchboardClient.connect(a.wsUrl), SwitchboardClient.connect(b.wsUrl)])
  return clientPair(ca, cb, b.peerId, async () => {
    await Promise.all([ca.close(), cb.close()])
    await Promise.all([a.stop(), b.stop()])
  })
}

function rawNode() {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), pubsub: gossipsub({ allowPublishToZeroTopicPeers: true }) },
  })
}

async function rawPair(): Promise<Pair> {
  const [a, b] = await Promise.all([rawNode(), rawNode()])
  a.services.pubsub.subscribe(TOPIC)
  b.services.pubsub.subscribe(TOPIC)
  const seen = new Promise<void>((resolve) => {
    const check = () => {
      if (!a.services.pubsub.getSubscribers(TOPIC).some((p) => p.equals(b.peerId))) return
      a.services.pubsub.removeEventListener('subscription-change', check)
      resolve()
    }
    a.services.pubsub.addEventListener('subscription-change', check)
    check()
  })
  await a.dial(b.getMultiaddrs()[0] as never)
  await seen
  const encoder = new TextEncoder()
  const decoder = new TextDecoder()
  return {
    publish: (n) => a.services.pubsub.publish(TOPIC, encoder.encode(JSON.stringify(payload(n)))).then(() => undefined),
    onArrival: (fn) => {
      b.services.pubsub.addEventListener('message', (e) => {
        // skip the JSON string's opening quote; the number ends at the colon
        if (e.detail.topic === TOPIC) fn(Number.parseInt(decoder.decode(e.detail.data.subarray(1, 16)), 10))
      })
    },
    close: async () => {
      await Promise.all([a.stop(), b.stop()])
    },
  }
}

// ---- run -----------------------------------------------------------------------------------

interface Side {
  sequential: Figures
  pipelined: Figures
}

async function measure(make: () => Promise<Pair>): Promise<Side> {
  const pair = await make()
  try {
    const arrivals = new Map<number, () => void>()
    pair.onArrival((n) => {
      arrivals.get(n)?.()
      arrivals.delete(n)
    })
    await drive(pair, arrivals, 0, PLAN.warmup, 16)
    const warm = PLAN.warmup + PLAN.warmupSequential
    await drive(pair, arrivals, PLAN.warmup, PLAN.warmupSequential, 1)
    const sequential = await drive(pair, arrivals, warm, PLAN.sequential, 1)
    const pipelined = await drive(pair, arrivals, warm + PLAN.sequential, PLAN.pipelined, PLAN.window)
    return { sequential, pipelined }
  } finally {
    await pair.close()
  }
}

/** measure(), again on a fresh pair when a message was lost (GossipSub gives no delivery guarantee); each loss is noted in `lost`. */
async function measureAgainOnLoss(make: () => Promise<Pair>, side: string, lost: string[]): Promise<Side> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await measure(make)
    } catch (err) {
      if (attempt >= MAX_ATTEMPTS) throw err
      lost.push(`${side}: ${(err as Error).message}`)
      process.stdout.write(`pubsub: ${side} run repeated: ${(err as Error).message}\n`)
    }
  }
}

function medianOf(runs: Side[], key: keyof Side): Figures {
  const pick = (f: keyof Figures) => median(runs.map((r) => r[key][f]))
  return { messages: runs[0]?.[key].messages ?? 0, p50: pick('p50'), p99: pick('p99'), perSecond: pick('perSecond') }
}

const ms = (n: number) => fmt(n, n < 1 ? 3 : n < 100 ? 2 : 0)
const ratio = (x: number, y: number) => `${fmt(x / y, 2)}×`

function table(sb: Side, raw: Side): string {
  const scenarios: Array<[keyof Side, string]> = [
    ['sequential', '1 in flight'],
    ['pipelined', `${PLAN.window} in flight`],
  ]
  return markdownTable(
    [
      '1 KiB topic messages',
      'Messages',
      'p50 ms',
      'p99 ms',
      'msg/s',
      'raw p50 ms',
      'raw p99 ms',
      'raw msg/s',
      'added p50 ms',
      'msg/s Switchboard/raw',
    ],
    scenarios.map(([key, label]) => [
      label,
      fmt(sb[key].messages, 0),
      ms(sb[key].p50),
      ms(sb[key].p99),
      fmt(sb[key].perSecond, 0),
      ms(raw[key].p50),
      ms(raw[key].p99),
      fmt(raw[key].perSecond, 0),
      ms(sb[key].p50 - raw[key].p50),
      ratio(sb[key].perSecond, raw[key].perSecond),
    ]),
  )
}

export async function run(): Promise<{ switchboard: Side; raw: Side; rawProcesses: Side }> {
  const sbRuns: Side[] = []
  const rawRuns: Side[] = []
  const rawProcessRuns: Side[] = []
  const lost: string[] = []
  // alternate the three so drift on the machine touches all alike
  for (let i = 0; i < REPEATS; i++) {
    process.stdout.write(`pubsub: run ${i + 1}/${REPEATS}, Switchboard, raw GossipSub in one process, raw in two processes...\n`)
    sbRuns.push(await measureAgainOnLoss(switchboardPair, 'Switchboard', lost))
    rawRuns.push(await measureAgainOnLoss(rawPair, 'raw', lost))
    rawProcessRuns.push(await measureAgainOnLoss(rawProcessPair, 'raw in two processes', lost))
  }
  const both = (runs: Side[]): Side => ({ sequential: medianOf(runs, 'sequential'), pipelined: medianOf(runs, 'pipelined') })
  const switchboard = both(sbRuns)
  const raw = both(rawRuns)
  const rawProcesses = both(rawProcessRuns)
  const body = [
    '### Topic messages: WebSocket publish on A to topicData on B',
    '',
    `${process.env.PUBSUB_IN_PROCESS === '1' ? 'Two in-process daemons on the loopback test config' : 'Two daemons, each in its own process on the default configuration (`switchboard start`: listeners on 0.0.0.0, mDNS on)'} (B bootstraps from A), a WebSocket client on each in the bench process, both subscribed; the request rate limit lifted. Each 1 KiB message (a JSON string) is timed from A's \`publish\` call to B's \`topicData\` push. ${PLAN.warmup} warm-up messages (16 in flight) and ${fmt(PLAN.warmupSequential, 0)} one at a time, each side, then ${fmt(PLAN.sequential, 0)} one at a time and ${fmt(PLAN.pipelined, 0)} with up to ${PLAN.window} not yet arrived. Median of ${REPEATS} runs per side, alternating.`,
    "raw = two js-libp2p nodes (TCP, Noise, Yamux, identify, GossipSub with default options, signed messages) in the same process, the same bytes, timed from `publish` to B's `message` event.",
    '',
    table(switchboard, raw),
    '',
    'The same Switchboard runs against the raw libraries in the same topology: each js-libp2p node (the same options) in its own process behind a bare `ws` server that only subscribes, publishes and pushes (bench/support/raw-pubsub-node.ts), driven by the same client code: the same three processes and the same WebSocket and libp2p hops.',
    '',
    table(switchboard, rawProcesses),
    ...(lost.length > 0
      ? ['', `Runs repeated because a message never arrived (within ${ARRIVAL_TIMEOUT_MS / 1000} s): ${lost.join('; ')}.`]
      : []),
  ].join('\n')
  // BENCH_DRY=1 (profiling runs): print, do not record
  if (process.env.BENCH_DRY === '1') process.stdout.write(`load ${machineInfo().load}\n${body}\n`)
  else await publish('pubsub', body)
  return { switchboard, raw, rawProcesses }
}

runIfMain(import.meta.url, run)
