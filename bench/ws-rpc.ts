import '../src/shims.ts'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { rm } from 'node:fs/promises'
import { type AddressInfo, type Socket, connect as tcpConnect, createServer as createTcpServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import websocket from '@fastify/websocket'
import { multiaddr } from '@multiformats/multiaddr'
import Fastify from 'fastify'
import type { Libp2p } from 'libp2p'
import { routingTableOf } from '../src/actors/dht/dht.actors.ts'
import { ActorRegistry } from '../src/actors/supervisor/actor-registry.ts'
import { SwitchboardClient } from '../src/client/switchboard-client.ts'
import type { Config } from '../src/config.ts'
import { type Daemon, startDaemon } from '../src/daemon.ts'
import type { SwitchboardLibp2p } from '../src/p2p/node-factory.ts'
import { startTestDaemon, tempDir, testConfig } from '../test/support/daemon.ts'
import { CLI_ARGS } from '../test/support/process-daemon.ts'
import { fmt, machineInfo, markdownTable, median, percentile, publish, runIfMain } from './machine.ts'
import { affinityOf, childPids, pinningUnavailable, pinProcess, threadAffinity, threadCpus } from './support/cpu-affinity.ts'
import { startDefaultDaemon } from './support/default-daemon.ts'
import { rawDhtNode } from './support/raw-dht-node.ts'

/**
 * WebSocket RPC and start-up figures: node.info round trips (one socket sequential and pipelined,
 * many sockets at once) against a plain Fastify+ws server answering the same frame, and the time a
 * daemon joining a 5-node loopback network takes to reach dhtReady against raw js-libp2p. The
 * sequential figures are taken a second time, last, with the client, the daemon and the raw server
 * pinned to one CPU (WS_RPC_PIN_CPUS, default 0; skipped where taskset cannot run), each beside a
 * plain TCP echo's round trip.
 */

const PLAN = {
  warmup: 2_000,
  /**
   * Before the sequential figures, this many sequential calls to each server, unmeasured: a freshly
   * started daemon (the bundle) takes 4-6k sequential node.info calls before its per-call time settles
   * (JIT tiers; the raw server 2-3k), and a first run measured inside that span read 10-30% low.
   */
  warmupSequential: 6_000,
  /**
   * Sequential calls per server, taken in chunks that alternate between the two servers (ABBA) from
   * one worker holding a client of each. On this 2-core VM a round trip costs ~0.05 ms when both ends
   * share a vCPU and ~0.12-0.17 ms when the scheduler puts them on different ones (waking a halted
   * vCPU); which of the two happens changes with everything else on the box, from second to second.
   * Whole runs a few seconds apart compared one server in one regime with the other in the other
   * (0.4-2.6x between runs of one bench); chunks of ~50 ms see the same machine.
   */
  sequential: 10_000,
  sequentialChunk: 500,
  pipelined: 20_000,
  window: 64,
  sockets: 100,
  perSocket: 200,
}
/** Whole load runs per server, alternating; the table shows the median of each figure. */
const RPC_REPEATS = 5
/** 5-node networks built per side; rounds alternate Switchboard and raw so both see the same machine state. */
const DHT_ROUNDS = 5
const NETWORK_SIZE = 5
const READY_TIMEOUT_MS = 30_000
const LOAD_ROLE = 'ws-rpc-load'
const SEQUENTIAL_ROLE = 'ws-rpc-sequential'
/** The CPU list of the same-CPU sequential variant (`WS_RPC_PIN_CPUS`, taskset -c syntax). */
const PIN_CPUS = process.env.WS_RPC_PIN_CPUS ?? '0'
/** The TCP echo floor's request: the size of the frame SwitchboardClient sends for node.info. */
const ECHO_REQUEST_BYTES = 50

type LoadPlan = typeof PLAN
interface Target {
  url: string
  token?: string
}
interface LoadStats {
  calls: number
  p50: number
  p99: number
  rps: number
}
/** One whole run's figures with many calls in flight (the sequential ones are taken apart, interleaved). */
interface ConcurrentResult {
  pipelined: LoadStats
  fanout: LoadStats
}
/** The in-flight figures are absent when only the sequential ones were asked for (WS_RPC_SEQUENTIAL_ONLY=1). */
type LoadResult = { sequential: LoadStats } & Partial<ConcurrentResult>
/** A plain TCP server in the raw server's process answering each ECHO_REQUEST_BYTES with `replyBytes` bytes. */
interface EchoTarget {
  port: number
  replyBytes: number
}
interface SequentialResult {
  sb: LoadStats
  raw: LoadStats
  /** The TCP echo floor, measured by the same worker right after the interleaved chunks. */
  echo?: LoadStats
  /** Where the client worker's thread may run (Cpus_allowed_list), read in that thread. */
  clientCpus: string
}
/** The sequential figures again with every thread of the client, the daemon and the raw server on PIN_CPUS. */
type SameCpu = (SequentialResult & { cpus: string; pinned: string[] }) | { skipped: string }
interface RpcFigures {
  sb: LoadResult
  raw: LoadResult
  /** The main sequential run's TCP echo floor and client CPUs (no pinning). */
  sequential: SequentialResult
  sameCpu: SameCpu
  /** The TCP echo floor's reply size: the raw server's answer to node.info. */
  echoReplyBytes: number
}

// ---- load generator (runs in a worker thread so the server under test keeps its own event loop) ----

/** Every client issues `perClient` node.info calls with `inFlight` outstanding at a time; latencies from send to result. */
async function drive(clients: SwitchboardClient[], perClient: number, inFlight: number): Promise<LoadStats> {
  const latencies: number[] = []
  const started = performance.now()
  await Promise.all(
    clients.flatMap((client) => {
      let issued = 0
      return Array.from({ length: inFlight }, async () => {
        while (issued < perClient) {
          issued += 1
          const t = performance.now()
          await client.call('node.info')
          latencies.push(performance.now() - t)
        }
      })
    }),
  )
  return loadStats(latencies, performance.now() - started)
}

/** The figures of `latencies` (ms) taken over `wallMs`. */
function loadStats(latencies: number[], wallMs: number): LoadStats {
  return {
    calls: latencies.length,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    rps: latencies.length / (wallMs / 1000),
  }
}

async function runLoad(target: Target, plan: LoadPlan): Promise<ConcurrentResult> {
  const connect = () => SwitchboardClient.connect(target.url, target.token ? { token: target.token } : {})
  const one = await connect()
  await drive([one], plan.warmup, 16)
  const pipelined = await drive([one], plan.pipelined, plan.window)
  await one.close()
  const many = await Promise.all(Array.from({ length: plan.sockets }, connect))
  const fanout = await drive(many, plan.perSocket, 1)
  await Promise.all(many.map((c) => c.close()))
  return { pipelined, fanout }
}

const connectTo = (target: Target) => SwitchboardClient.connect(target.url, target.token ? { token: target.token } : {})

/** A TCP client of the echo server: call() sends one request and resolves once the whole reply is in. */
async function connectEcho(echo: EchoTarget): Promise<{ call: () => Promise<void>; close: () => void }> {
  const socket = tcpConnect(echo.port, '127.0.0.1')
  socket.setNoDelay(true)
  await once(socket, 'connect')
  const request = Buffer.alloc(ECHO_REQUEST_BYTES, 0x20)
  let missing = 0
  let done: (() => void) | undefined
  socket.on('data', (chunk: Buffer) => {
    missing -= chunk.length
    if (missing <= 0 && done) {
      const resolve = done
      done = undefined
      resolve()
    }
  })
  return {
    call: () =>
      new Promise<void>((resolve) => {
        missing += echo.replyBytes
        done = resolve
        socket.write(request)
      }),
    close: () => socket.destroy(),
  }
}

/** `warmup` unmeasured then `calls` measured sequential round trips to the TCP echo server. */
async function runEcho(echo: EchoTarget, warmup: number, calls: number): Promise<LoadStats> {
  const client = await connectEcho(echo)
  for (let i = 0; i < warmup; i++) await client.call()
  const latencies: number[] = []
  const started = performance.now()
  for (let i = 0; i < calls; i++) {
    const t = performance.now()
    await client.call()
    latencies.push(performance.now() - t)
  }
  const wallMs = performance.now() - started
  client.close()
  return loadStats(latencies, wallMs)
}

/**
 * One socket, one call at a time, to each of the two servers: both clients connected and warmed in
 * this worker, then `sequential` calls each in chunks alternating A B B A ...; latencies pooled per
 * server, req/s = its calls over the time its chunks took. Then, with `echo`, as many round trips to
 * the plain TCP echo server (after the chunks, so they are as they were without it).
 */
async function runSequential(targets: [Target, Target], plan: LoadPlan, echo?: EchoTarget): Promise<SequentialResult> {
  const clients = await Promise.all(targets.map(connectTo))
  for (const c of clients) {
    await drive([c], plan.warmup, 16)
    await drive([c], plan.warmupSequential, 1)
  }
  const latencies: [number[], number[]] = [[], []]
  const wall = [0, 0]
  const chunks = Math.ceil(plan.sequential / plan.sequentialChunk)
  for (let k = 0; k < chunks; k++) {
    for (const side of k % 2 === 0 ? [0, 1] : [1, 0]) {
      const client = clients[side] as SwitchboardClient
      const into = latencies[side] as number[]
      const started = performance.now()
      for (let i = 0; i < plan.sequentialChunk; i++) {
        const t = performance.now()
        await client.call('node.info')
        into.push(performance.now() - t)
      }
      wall[side] = (wall[side] as number) + performance.now() - started
    }
  }
  await Promise.all(clients.map((c) => c.close()))
  const echoStats = echo ? await runEcho(echo, plan.warmup, plan.sequential) : undefined
  if (process.env.WS_RPC_VERBOSE === '1')
    for (const side of [0, 1] as const) {
      const xs = latencies[side]
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length
      const over = (ms: number) => xs.filter((x) => x > ms).length
      process.stderr.write(
        `sequential ${side === 0 ? 'sb' : 'raw'}: mean ${mean.toFixed(3)} p90 ${percentile(xs, 90).toFixed(3)} p99.9 ${percentile(xs, 99.9).toFixed(3)} max ${Math.max(...xs).toFixed(2)} ms; >0.5 ms ${over(0.5)}, >2 ms ${over(2)} (their time ${xs
          .filter((x) => x > 0.5)
          .reduce((a, b) => a + b, 0)
          .toFixed(0)} ms)\n`,
      )
    }
  const stats = (side: 0 | 1): LoadStats => loadStats(latencies[side], wall[side] as number)
  return { sb: stats(0), raw: stats(1), ...(echoStats ? { echo: echoStats } : {}), clientCpus: threadCpus() }
}

/** Run `role` in a worker thread; tsx must be registered there by hand (workers do not inherit --import on Node 20). */
function inWorker<T>(data: { role: string; plan: LoadPlan; target?: Target; targets?: [Target, Target]; echo?: EchoTarget }): Promise<T> {
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'))
  const self = JSON.stringify(import.meta.url)
  const boot = `import(${tsx}).then(({ register }) => { register(); return import(${self}) })`
  const worker = new Worker(boot, { eval: true, workerData: data })
  return new Promise<T>((resolve, reject) => {
    worker.once('message', (result: T) => {
      resolve(result)
      void worker.terminate()
    })
    worker.once('error', reject)
    worker.once('exit', (code) => reject(new Error(`load worker exited with code ${code} before reporting`)))
  })
}

// ---- RPC servers under test ----

/** The baseline: Fastify + @fastify/websocket parsing each frame and answering with the same result, no envelope checks. */
async function rawEchoServer(result: unknown): Promise<{ url: string; close: () => Promise<void> }> {
  const app = Fastify({ logger: false })
  await app.register(websocket)
  app.get('/ws', { websocket: true }, (socket) => {
    socket.on('message', (data) => {
      const { requestid } = JSON.parse(data.toString()) as { requestid: number }
      socket.send(JSON.stringify({ requestid, isresponse: true, result }))
    })
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return { url: `ws://127.0.0.1:${port}/ws`, close: () => app.close() }
}

/** The TCP echo floor's server: answers every ECHO_REQUEST_BYTES received with `replyBytes` bytes, no parsing. */
async function tcpEchoServer(replyBytes: number): Promise<EchoTarget & { close: () => Promise<void> }> {
  const reply = Buffer.alloc(replyBytes, 0x20)
  const sockets = new Set<Socket>()
  const server = createTcpServer((socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    socket.setNoDelay(true)
    let received = 0
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length
      for (; received >= ECHO_REQUEST_BYTES; received -= ECHO_REQUEST_BYTES) socket.write(reply)
    })
    socket.on('error', () => {})
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    port: (server.address() as AddressInfo).port,
    replyBytes,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        for (const socket of sockets) socket.destroy()
      }),
  }
}

/** The size of the raw server's answer to node.info, which the TCP echo floor sends back. */
const replyBytesOf = (result: unknown) => Buffer.byteLength(JSON.stringify({ requestid: 1, isresponse: true, result }))

const runLine = (r: Partial<LoadResult>) =>
  (['sequential', 'pipelined', 'fanout'] as const)
    .flatMap((k) => {
      const x = r[k]
      return x ? [`${k} p50 ${x.p50.toFixed(3)} p99 ${x.p99.toFixed(3)} ${x.rps.toFixed(0)}/s`] : []
    })
    .join(' | ')

/** Per scenario, the median of each figure over the repeats: one run on a shared 2-core box is noisy. */
function medianOfRuns(runs: ConcurrentResult[]): ConcurrentResult {
  const pick = (key: keyof ConcurrentResult): LoadStats => ({
    calls: runs[0]?.[key].calls ?? 0,
    p50: median(runs.map((r) => r[key].p50)),
    p99: median(runs.map((r) => r[key].p99)),
    rps: median(runs.map((r) => r[key].rps)),
  })
  return { pipelined: pick('pipelined'), fanout: pick('fanout') }
}

/**
 * The raw server in its own process, as the daemon is: this module started with WS_RPC_RAW_RESULT set
 * prints its URL, and the port of the TCP echo floor's server it also runs.
 */
async function rawEchoProcess(
  result: unknown,
): Promise<{ url: string; pid: number | undefined; echo: EchoTarget; close: () => Promise<void> }> {
  const child = spawn(process.execPath, [...CLI_ARGS.slice(0, 2), fileURLToPath(import.meta.url)], {
    env: { ...process.env, WS_RPC_RAW_RESULT: JSON.stringify(result) },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()))
  const [url, echo] = await new Promise<[string, EchoTarget]>((resolve, reject) => {
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d
      const line = /^raw (ws:\S+)$/m.exec(out)?.[1]
      const echoLine = /^echo (\d+) (\d+)$/m.exec(out)
      if (line && echoLine) resolve([line, { port: Number(echoLine[1]), replyBytes: Number(echoLine[2]) }])
    })
    void exited.then(() => reject(new Error(`raw server exited before listening: ${out}`)))
  })
  return {
    url,
    pid: child.pid,
    echo,
    close: async () => {
      child.kill('SIGTERM')
      await exited
    },
  }
}

/**
 * The sequential run again with every thread of the bench process (so its client worker), the daemon
 * and the raw server allowed only PIN_CPUS (`taskset -a -c -p`). The bench process's own list is put
 * back after; the servers stay pinned until they stop. Skipped, with the reason, where taskset cannot run.
 */
async function sameCpuSequential(servers: Array<[string, number | undefined]>, run: () => Promise<SequentialResult>): Promise<SameCpu> {
  const unavailable = pinningUnavailable()
  if (unavailable) return { skipped: unavailable }
  const missing = servers.find(([, pid]) => pid === undefined)
  if (missing) return { skipped: `no pid found for the ${missing[0]}` }
  const bench = servers.length > 0 ? 'bench process (client worker)' : 'bench process (daemon, raw server, client worker)'
  const processes: Array<[string, number]> = [...(servers as Array<[string, number]>), [bench, process.pid]]
  const own = affinityOf(process.pid)
  for (const [, pid] of processes) pinProcess(pid, PIN_CPUS)
  try {
    const result = await run()
    // read after the run: threads started meanwhile inherit their creator's list
    const pinned = processes.map(([label, pid]) => {
      const { threads, cpus } = threadAffinity(pid)
      return `${label} pid ${pid}: ${threads} threads on ${cpus.join(' / ')}`
    })
    return { ...result, cpus: PIN_CPUS, pinned }
  } finally {
    pinProcess(process.pid, own)
  }
}

/**
 * What users run: the daemon in its own process on its defaults (bench/support/default-daemon.ts),
 * the raw server in its own process, the client in a worker of this one. `inProcess`: the daemon and
 * the raw server in this process on the loopback test config, the client in a worker (for profiling).
 * `sequentialOnly`: no in-flight or many-socket runs. Last, the sequential run on one CPU (sameCpu).
 */
async function rpcFigures(
  inProcess = process.env.WS_RPC_IN_PROCESS === '1',
  sequentialOnly = process.env.WS_RPC_SEQUENTIAL_ONLY === '1',
): Promise<RpcFigures> {
  let target: Target
  let info: unknown
  let stopDaemon: () => Promise<void>
  let daemonPid: number | undefined
  if (inProcess) {
    // the per-connection request budget (429 above it) would cap what is measured here: lift it
    const daemon = await startTestDaemon({ rateLimitPerSecond: 1_000_000, rateLimitBurst: 1_000_000 })
    target = { url: daemon.wsUrl, token: daemon.token }
    info = daemon.core.nodes.info('peer-a')
    stopDaemon = () => daemon.destroy()
  } else {
    const daemon = await startDefaultDaemon({ profileName: 'ws-rpc-daemon' })
    target = { url: daemon.wsUrl, token: daemon.token }
    const c = await daemon.client()
    info = await c.call('node.info')
    await c.close()
    stopDaemon = () => daemon.stop()
    const pids = childPids(process.pid, (argv) => argv.includes('start') && argv.includes('--data-dir'))
    daemonPid = pids.length === 1 ? pids[0] : undefined
  }
  let echo: Awaited<ReturnType<typeof rawEchoServer>> | undefined
  let tcpEcho: Awaited<ReturnType<typeof tcpEchoServer>> | undefined
  try {
    let echoTarget: EchoTarget
    let rawPid: number | undefined
    if (inProcess) {
      echo = await rawEchoServer(info)
      tcpEcho = await tcpEchoServer(replyBytesOf(info))
      echoTarget = { port: tcpEcho.port, replyBytes: tcpEcho.replyBytes }
    } else {
      const child = await rawEchoProcess(info)
      echo = child
      echoTarget = child.echo
      rawPid = child.pid
    }
    const rawTarget = { url: echo.url }
    const sequentialRun = () =>
      inWorker<SequentialResult>({ role: SEQUENTIAL_ROLE, targets: [target, rawTarget], plan: PLAN, echo: echoTarget })
    const sequential = await sequentialRun()
    const sb: ConcurrentResult[] = []
    const raw: ConcurrentResult[] = []
    // alternate the two servers so drift on the machine touches both alike
    for (let i = 0; i < (sequentialOnly ? 0 : RPC_REPEATS); i++) {
      sb.push(await inWorker<ConcurrentResult>({ role: LOAD_ROLE, target, plan: PLAN }))
      raw.push(await inWorker<ConcurrentResult>({ role: LOAD_ROLE, target: rawTarget, plan: PLAN }))
      // WS_RPC_VERBOSE=1: each run's figures on stderr, to see the spread behind the medians
      if (process.env.WS_RPC_VERBOSE === '1')
        for (const [side, r] of [
          ['sb', sb[i]],
          ['raw', raw[i]],
        ] as const)
          process.stderr.write(`run ${i} ${side}: ${runLine(r ?? {})}\n`)
    }
    // after everything above, so pinning the servers touches none of those figures
    const servers: Array<[string, number | undefined]> = inProcess
      ? []
      : [
          ['daemon', daemonPid],
          ['raw server', rawPid],
        ]
    const sameCpu = await sameCpuSequential(servers, sequentialRun)
    const concurrent = (runs: ConcurrentResult[]) => (runs.length > 0 ? medianOfRuns(runs) : {})
    return {
      sb: { sequential: sequential.sb, ...concurrent(sb) },
      raw: { sequential: sequential.raw, ...concurrent(raw) },
      sequential,
      sameCpu,
      echoReplyBytes: echoTarget.replyBytes,
    }
  } finally {
    await tcpEcho?.close()
    await echo?.close()
    await stopDaemon()
  }
}

// ---- start-up to dhtReady ----

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/**
 * startDaemon only hands back its parts once HTTP listens, and the DHT may be ready before that;
 * catching the registry at its first listener (the composition root adds one before any node
 * starts) lets us watch it from the beginning.
 * Returns the function that removes the hook if it has not fired.
 */
function onNextRegistry(fn: (registry: ActorRegistry) => void): () => void {
  const original = ActorRegistry.prototype.listen
  const restore = () => {
    ActorRegistry.prototype.listen = original
  }
  ActorRegistry.prototype.listen = function (this: ActorRegistry, ...args: Parameters<ActorRegistry['listen']>) {
    restore()
    fn(this)
    return original.apply(this, args)
  }
  return restore
}

/** Start a daemon; `upMs` is when startDaemon resolved, `readyMs` when its dht actor entered 'ready', both from the call. */
async function startDaemonTimed(config: Config): Promise<{ daemon: Daemon; upMs: number; readyMs: Promise<number> }> {
  const t0 = performance.now()
  let restore = () => {}
  const readyMs = new Promise<number>((resolve) => {
    restore = onNextRegistry((registry) => {
      const stop = registry.listen((change) => {
        if (change.type === 'snapshot' && change.snapshot.systemId === 'dht:peer-a' && change.snapshot.value === 'ready') {
          stop()
          resolve(performance.now() - t0)
        }
      })
    })
  })
  try {
    const daemon = await startDaemon(config)
    return { daemon, upMs: performance.now() - t0, readyMs }
  } finally {
    restore()
  }
}

function dialable(addrs: string[], peerId: string): string {
  const addr = addrs.find((a) => a.startsWith('/ip4/127.0.0.1/tcp/')) ?? addrs[0]
  if (addr === undefined) throw new Error('seed node has no listen address')
  return addr.includes('/p2p/') ? addr : `${addr}/p2p/${peerId}`
}

/** One Switchboard network: a seed daemon, then NETWORK_SIZE-1 daemons bootstrapping from it, one after another. */
async function switchboardNetwork(): Promise<{ up: number[]; ready: number[] }> {
  const daemons: Array<{ daemon: Daemon; dir: string }> = []
  const up: number[] = []
  const ready: number[] = []
  try {
    const seedDir = await tempDir('sb-bench-')
    const seed = await startDaemonTimed(testConfig(seedDir))
    daemons.push({ daemon: seed.daemon, dir: seedDir })
    // the seed has nobody to bootstrap from: its readiness waits for the first joiner, so it is not timed
    const seedAddr = dialable(seed.daemon.core.nodes.info('peer-a').addrs, seed.daemon.peerId)
    for (let i = 1; i < NETWORK_SIZE; i++) {
      const dir = await tempDir('sb-bench-')
      const joined = await startDaemonTimed(testConfig(dir, { bootstrap: [seedAddr] }))
      daemons.push({ daemon: joined.daemon, dir })
      up.push(joined.upMs)
      ready.push(await withTimeout(joined.readyMs, 'dhtReady'))
    }
  } finally {
    for (const { daemon, dir } of daemons.reverse()) {
      await daemon.close().catch(() => {})
      await rm(dir, { recursive: true, force: true })
    }
  }
  return { up, ready }
}

function routingTableFilled(node: Libp2p): Promise<void> {
  const table = routingTableOf(node as unknown as SwitchboardLibp2p)
  if (!table) return Promise.reject(new Error('kad-dht routing table not found'))
  if (table.size > 0) return Promise.resolve()
  return new Promise((resolve) => {
    const onAdd = () => {
      table.removeEventListener('peer:add', onAdd)
      resolve()
    }
    table.addEventListener('peer:add', onAdd)
  })
}

/** One raw network; a joiner is timed from createLibp2p to its routing table holding a peer, dialling the seed itself. */
async function rawNetwork(protocol: string): Promise<number[]> {
  const nodes: Libp2p[] = []
  const ready: number[] = []
  try {
    const seed = await rawDhtNode(protocol)
    nodes.push(seed)
    const seedAddr = multiaddr(dialable(seed.getMultiaddrs().map(String), seed.peerId.toString()))
    for (let i = 1; i < NETWORK_SIZE; i++) {
      const t0 = performance.now()
      const node = await rawDhtNode(protocol)
      nodes.push(node)
      const filled = routingTableFilled(node)
      await node.dial(seedAddr)
      await withTimeout(filled, 'raw routing table > 0')
      ready.push(performance.now() - t0)
    }
  } finally {
    for (const node of nodes.reverse()) await Promise.resolve(node.stop()).catch(() => {})
  }
  return ready
}

async function dhtFigures(): Promise<{ up: number[]; ready: number[]; raw: number[] }> {
  const protocol = testConfig('/unused').dhtProtocol
  const up: number[] = []
  const ready: number[] = []
  const raw: number[] = []
  for (let round = 0; round < DHT_ROUNDS; round++) {
    const sb = await switchboardNetwork()
    up.push(...sb.up)
    ready.push(...sb.ready)
    raw.push(...(await rawNetwork(protocol)))
  }
  return { up, ready, raw }
}

// ---- report ----

const ms = (n: number) => fmt(n, n < 1 ? 3 : n < 100 ? 2 : 0)
const ratio = (a: number, b: number) => `${fmt(a / b, 2)}×`

function rpcTable({ sb, raw }: { sb: LoadResult; raw: LoadResult }): string {
  const scenarios: Array<[keyof LoadResult, string]> = [
    ['sequential', '1 socket, sequential'],
    ['pipelined', `1 socket, ${PLAN.window} in flight`],
    ['fanout', `${PLAN.sockets} sockets, 1 in flight each`],
  ]
  return markdownTable(
    ['node.info', 'Calls', 'p50 ms', 'p99 ms', 'req/s', 'raw p50 ms', 'raw p99 ms', 'raw req/s', 'req/s Switchboard/raw'],
    scenarios.flatMap(([key, label]) => {
      const [s, r] = [sb[key], raw[key]]
      if (!s || !r) return []
      return [[label, fmt(s.calls, 0), ms(s.p50), ms(s.p99), fmt(s.rps, 0), ms(r.p50), ms(r.p99), fmt(r.rps, 0), ratio(s.rps, r.rps)]]
    }),
  )
}

/**
 * The sequential figures above beside the same run with everything on one CPU, and the TCP echo
 * floor of each: why the second exists, and which processes and threads were pinned where.
 */
function sameCpuSection({ sequential, sameCpu, echoReplyBytes }: RpcFigures): string {
  const echo = sequential.echo
  const why = `**1 socket, sequential, same CPU.** The row's figures are the ones above, where the scheduler places the client and the servers. On this VM a vCPU with nothing to run halts and the host takes ~40 µs to wake it, so a round trip between threads on different vCPUs pays that twice, and a run lands in that regime or in the same-vCPU one depending on what else keeps the second vCPU busy (a plain Node TCP echo has p50 0.107-0.124 ms across vCPUs, bench/profiles/ws-rpc-sequential.txt). The TCP echo figures (${ECHO_REQUEST_BYTES}-byte request, ${fmt(echoReplyBytes, 0)}-byte reply, no parsing, from the same worker to the raw server's process, right after each run's chunks) show which floor a run had${echo ? `: p50 ${ms(echo.p50)} ms, p99 ${ms(echo.p99)} ms in the run above` : ''}.`
  if ('skipped' in sameCpu) return `${why} The same-CPU run was skipped: ${sameCpu.skipped}.`
  const row = (label: string, r: SequentialResult) => [
    label,
    r.clientCpus,
    fmt(r.sb.calls, 0),
    ms(r.sb.p50),
    ms(r.sb.p99),
    fmt(r.sb.rps, 0),
    ms(r.raw.p50),
    ms(r.raw.p99),
    fmt(r.raw.rps, 0),
    ratio(r.sb.rps, r.raw.rps),
    r.echo ? ms(r.echo.p50) : '–',
    r.echo ? ms(r.echo.p99) : '–',
  ]
  return [
    `${why} Below, the same sequential plan run again after all the figures above, with every thread of the daemon, the raw server and the bench process (so its client worker) allowed CPU ${sameCpu.cpus} only (\`taskset -a -c -p ${sameCpu.cpus}\`): the round trip is then the two ends' CPU time.`,
    '',
    markdownTable(
      [
        'node.info, 1 socket, sequential',
        'client CPUs',
        'Calls',
        'p50 ms',
        'p99 ms',
        'req/s',
        'raw p50 ms',
        'raw p99 ms',
        'raw req/s',
        'req/s Switchboard/raw',
        'TCP echo p50 ms',
        'TCP echo p99 ms',
      ],
      [row('any CPU (the figures above)', sequential), row(`same CPU (${sameCpu.cpus})`, sameCpu)],
    ),
    '',
    `Affinity in the same-CPU run: ${sameCpu.pinned.join('; ')}; client worker thread on ${sameCpu.clientCpus}.`,
  ].join('\n')
}

function dhtTable({ up, ready, raw }: { up: number[]; ready: number[]; raw: number[] }): string {
  const row = (label: string, xs: number[]) => [label, xs.length, ms(Math.min(...xs)), ms(median(xs)), ms(Math.max(...xs))]
  return [
    markdownTable(
      ['Joining a 5-node loopback network', 'Samples', 'min ms', 'median ms', 'max ms'],
      [
        row('Switchboard: startDaemon call → resolved', up),
        row('Switchboard: startDaemon call → dht actor ready', ready),
        row('raw js-libp2p: createLibp2p → routing table > 0', raw),
      ],
    ),
    '',
    `Switchboard/raw (median to DHT ready): **${ratio(median(ready), median(raw))}**`,
  ].join('\n')
}

/**
 * Only the node.info figures, printed and not recorded: `WS_RPC_ONLY=1 node --import tsx bench/ws-rpc.ts`
 * (profiling runs); `WS_RPC_SEQUENTIAL_ONLY=1` instead: only the sequential ones (any CPU, then same CPU).
 */
async function rpcOnly(): Promise<void> {
  const rpc = await rpcFigures()
  process.stdout.write(`load ${machineInfo().load}\n${rpcTable(rpc)}\n\n${sameCpuSection(rpc)}\n`)
}

export async function run(): Promise<{ rpc: RpcFigures; dht: { up: number[]; ready: number[]; raw: number[] } }> {
  process.stdout.write('ws-rpc: node.info load (Switchboard, then raw Fastify+ws)...\n')
  const rpc = await rpcFigures()
  process.stdout.write(`ws-rpc: ${DHT_ROUNDS} rounds of ${NETWORK_SIZE}-node networks (Switchboard, then raw libp2p)...\n`)
  const dht = await dhtFigures()
  const body = [
    '### node.info over WebSocket',
    '',
    process.env.WS_RPC_IN_PROCESS === '1'
      ? 'Switchboard: an in-process daemon on the loopback test config; raw: in the same process.'
      : 'Switchboard: a daemon in its own process on the default configuration (`switchboard start`: listeners on 0.0.0.0 for TCP, WebSocket and WebRTC-direct, mDNS on), the request rate limit lifted in its config.json; raw: its own process too.',
    `Client: the typed SwitchboardClient in a worker thread of the bench process, ${fmt(PLAN.warmup, 0)} warm-up calls (16 in flight) first. Sequential: one worker with a client of each server, ${fmt(PLAN.warmupSequential, 0)} more warm-up calls each, then chunks of ${fmt(PLAN.sequentialChunk, 0)} calls alternating between the servers (ABBA), latencies pooled per server. In flight and sockets: median of ${RPC_REPEATS} whole runs per server, alternating.`,
    'raw = Fastify + @fastify/websocket parsing each frame and answering with the same node.info result (no envelope validation, no method dispatch, no metrics).',
    '',
    rpcTable(rpc),
    '',
    sameCpuSection(rpc),
    '',
    '### Start to dhtReady, in process (kept for profiling start-up)',
    '',
    "Not issue 15's row: that is `bench dht-ready` (bench/dht-ready.ts), where each node is its own process and Switchboard is the bundle `npm start` runs. Here the daemon starts inside the bench process, its modules already loaded, on a trimmed loopback config.",
    `${DHT_ROUNDS} rounds; each starts a seed, then ${NETWORK_SIZE - 1} nodes one after another, each bootstrapping from the seed.`,
    'Switchboard: in-process startDaemon (identity, token, LevelDB + fs blockstore, libp2p + Helia + gossipsub + bitswap, Fastify) with a loopback test config.',
    'raw: createLibp2p with TCP, Noise, Yamux, identify, ping and kad-dht (same protocol, server mode, passthroughMapper), in-memory stores, then one dial to the seed.',
    '',
    dhtTable(dht),
  ].join('\n')
  await publish('ws-rpc', body)
  return { rpc, dht }
}

if (process.env.WS_RPC_RAW_RESULT !== undefined && isMainThread) {
  const result: unknown = JSON.parse(process.env.WS_RPC_RAW_RESULT)
  void Promise.all([rawEchoServer(result), tcpEchoServer(replyBytesOf(result))]).then(([server, echo]) => {
    process.stdout.write(`raw ${server.url}\necho ${echo.port} ${echo.replyBytes}\n`)
    process.once('SIGTERM', () => void Promise.all([server.close(), echo.close()]).then(() => process.exit(0)))
  })
} else if (!isMainThread && (workerData as { role?: string } | null)?.role === LOAD_ROLE) {
  const { target, plan } = workerData as { target: Target; plan: LoadPlan }
  // a rejection here surfaces as the worker's 'error' event in the main thread
  void runLoad(target, plan).then((result) => parentPort?.postMessage(result))
} else if (!isMainThread && (workerData as { role?: string } | null)?.role === SEQUENTIAL_ROLE) {
  const { targets, plan, echo } = workerData as { targets: [Target, Target]; plan: LoadPlan; echo?: EchoTarget }
  void runSequential(targets, plan, echo).then((result) => parentPort?.postMessage(result))
} else {
  const only = process.env.WS_RPC_ONLY === '1' || process.env.WS_RPC_SEQUENTIAL_ONLY === '1'
  runIfMain(import.meta.url, only ? rpcOnly : run)
}
