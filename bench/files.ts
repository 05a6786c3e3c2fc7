import '../src/shims.ts'
import { rm } from 'node:fs/promises'
import { Agent, request as httpRequest } from 'node:http'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { join } from 'node:path'
import { unixfs } from '@helia/unixfs'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import type { SwitchboardClient } from '../src/client/switchboard-client.ts'
import { createNode, type NodeHandle } from '../src/p2p/node-factory.ts'
import { tempDir } from '../test/support/daemon.ts'
import { type ProcessDaemon, startProcessDaemon } from '../test/support/process-daemon.ts'
import { bundleForThisRun } from '../scripts/build-daemon.ts'
import { daemonArgs } from './support/default-daemon.ts'
import { fmt, markdownTable, median, publish, runIfMain } from './machine.ts'
import { noise } from '../test/files/support.ts'
import { type RawFilesServer, startRawFilesServer } from './support/raw-files-server.ts'

/**
 * Files between two daemons on loopback: store on A and fetch on B (bitswap from A), 1, 10 and
 * 100 MiB, over HTTP (and the WebSocket for the sizes a frame carries), against raw Helia doing the
 * same between two plain Helia nodes in the same run (unixfs addBytes on one, cat on the other).
 * The daemons are what users run: `switchboard start` in their own processes on the default
 * configuration (default listeners), the client here. BENCH_DAEMON_NODE_OPTIONS is passed to the
 * daemons' NODE_OPTIONS (`--cpu-prof --cpu-prof-dir=...` to profile them under this load).
 */

const MiB = 1024 * 1024
/** BENCH_FILES_SIZES=10,100 measures only those (for profiling). */
const SIZES = process.env.BENCH_FILES_SIZES?.split(',').map(Number) ?? [1, 10, 100]
/** BENCH_FILES_STORE_ONLY=1 measures the stores only (for profiling the store path). */
const STORE_ONLY = process.env.BENCH_FILES_STORE_ONLY === '1'
/**
 * Rounds per size: small sizes are noisy (a 1 MiB store is ~10-20 ms, at the mercy of the box's load: the raw
 * store's median moved 64-119 MB/s between runs minutes apart), 100 MiB is slow.
 * BENCH_FILES_ROUNDS=<n>: that many rounds of every size instead (for profiling under a longer loop).
 */
const ROUNDS: Record<number, number> = process.env.BENCH_FILES_ROUNDS
  ? Object.fromEntries(SIZES.map((s) => [s, Number(process.env.BENCH_FILES_ROUNDS)]))
  : { 1: 40, 10: 5, 100: 5 }
/**
 * The WebSocket carries base64 in one frame, 1 MiB on the default configuration (maxFrameBytes):
 * not even the 1 MiB file fits, so on defaults files go over HTTP and no WebSocket row is measured.
 */
const WS_SIZES = new Set<number>()

const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000)

/**
 * A full collection in this process before each timed step: the raw side runs here, and the 1 MiB
 * blocks of the round before (external memory) otherwise trigger mark-compacts inside the next one.
 */
setFlagsFromString('--expose-gc')
const collect = runInNewContext('gc') as () => void

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  collect()
  const start = performance.now()
  const value = await fn()
  return { ms: performance.now() - start, value }
}

async function drain(body: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0
  for await (const chunk of body) n += chunk.length
  return n
}

interface Pair {
  store(bytes: Uint8Array<ArrayBuffer>): Promise<string>
  fetch(cid: string, size: number): Promise<void>
}

/**
 * One HTTP request with node:http (the body sent as it is, the answer drained as it comes): the
 * client's own cost stays small next to the daemon's (fetch copies a Uint8Array body and reads
 * through web streams).
 */
function request(
  url: string,
  opts: { method: string; token: string; body?: Uint8Array },
): Promise<{ status: number; bytes: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: opts.method,
        agent,
        headers: {
          authorization: `Bearer ${opts.token}`,
          ...(opts.body === undefined ? {} : { 'content-length': String(opts.body.length), 'content-type': 'application/octet-stream' }),
        },
      },
      (res) => {
        let bytes = 0
        const small: Buffer[] = []
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length
          if (bytes <= 1 << 16) small.push(chunk)
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, text: Buffer.concat(small).toString() }))
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(opts.body === undefined ? undefined : Buffer.from(opts.body.buffer, opts.body.byteOffset, opts.body.length))
  })
}

const agent = new Agent({ keepAlive: true })

function httpPair(a: ProcessDaemon, b: ProcessDaemon): Pair {
  let n = 0
  return {
    async store(bytes) {
      const res = await request(`${a.origin}/files/peer-a/bench/http-${n++}.bin`, { method: 'PUT', token: a.token, body: bytes })
      if (res.status !== 200) throw new Error(`PUT ${res.status}: ${res.text}`)
      return (JSON.parse(res.text) as { fileCid: string }).fileCid
    },
    async fetch(cid, size) {
      const res = await request(`${b.origin}/ipfs/${cid}`, { method: 'GET', token: b.token })
      if (res.status !== 200 || res.bytes !== size) throw new Error(`GET ${res.status} returned ${res.bytes} of ${size} bytes`)
    },
  }
}

/** The raw library in the daemons' topology: PUT into a bare node:http server + unixfs in its own process (store only). */
function rawHttpStore(origin: string): Pair {
  let n = 0
  return {
    async store(bytes) {
      const res = await request(`${origin}/raw-${n++}.bin`, { method: 'PUT', token: '', body: bytes })
      if (res.status !== 200) throw new Error(`PUT ${res.status}: ${res.text}`)
      return (JSON.parse(res.text) as { fileCid: string }).fileCid
    },
    async fetch() {},
  }
}

function wsPair(ca: SwitchboardClient, cb: SwitchboardClient): Pair {
  let n = 0
  return {
    async store(bytes) {
      const r = await ca.call<{ fileCid: string }>('storefile', {
        path: `bench/ws-${n++}.bin`,
        content: Buffer.from(bytes).toString('base64'),
        directory: false,
      })
      return r.fileCid
    },
    async fetch(cid, size) {
      const push = cb.waitFor<{ cid: string; success: boolean; content: { content?: string; error?: string } }>(
        'gotFile',
        (p) => p.cid === cid,
        120_000,
      )
      await cb.call('getfile', { cid })
      const got = await push
      if (!got.success || Buffer.from(got.content.content ?? '', 'base64').length !== size)
        throw new Error(`getfile failed: ${got.content.error}`)
    },
  }
}

function heliaPair(a: NodeHandle, b: NodeHandle): Pair {
  const fsA = unixfs(a.helia)
  const fsB = unixfs(b.helia)
  return {
    async store(bytes) {
      return (await fsA.addBytes(bytes)).toString()
    },
    async fetch(cid, size) {
      const got = await drain(fsB.cat(CID.parse(cid)))
      if (got !== size) throw new Error(`cat returned ${got} of ${size} bytes`)
    },
  }
}

/** Plain Helia nodes as the daemons build them (fs blockstore, LevelDB), no Switchboard on top. */
async function rawHelia(dir: string): Promise<NodeHandle> {
  return createNode({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: [],
    mdns: false,
    dhtProtocol: '/bench-files/kad/1.0.0',
    allowPrivateAddresses: true,
    storageDir: dir,
  })
}

interface Figures {
  store: number[]
  fetch: number[]
}

async function measure(pair: Pair, size: number, seed: number, into: Figures, storeOnly = false): Promise<void> {
  const bytes = noise(size * MiB, seed)
  const stored = await timed(() => pair.store(bytes)).catch((err: Error) => {
    throw new Error(`store: ${err.message}`)
  })
  into.store.push(mbps(bytes.length, stored.ms))
  if (STORE_ONLY || storeOnly) return
  const fetched = await timed(() => pair.fetch(stored.value, bytes.length)).catch((err: Error) => {
    throw new Error(`fetch of ${stored.value}: ${err.message}`)
  })
  into.fetch.push(mbps(bytes.length, fetched.ms))
}

export async function run() {
  const nodeOptions = process.env.BENCH_DAEMON_NODE_OPTIONS
  const env = nodeOptions === undefined ? undefined : { NODE_OPTIONS: nodeOptions }
  // default listeners (every interface, TCP, WebSockets, WebRTC-direct), as `npm start` has them
  // as `npm start` runs it: the bundle (SWITCHBOARD_BENCH_TSX=1: tsx)
  // BENCH_FILES_SOURCES=<dir>: the daemons from another checkout's sources (a before/after in the same minutes)
  const sources = process.env.BENCH_FILES_SOURCES
  const command = sources === undefined ? await daemonArgs() : [await bundleForThisRun('bench-files', sources)]
  const a = await startProcessDaemon({ listen: [], env, command })
  const seed = a.addrs.find((x) => x.startsWith('/ip4/127.0.0.1/tcp/') && !x.includes('/ws'))
  if (seed === undefined) throw new Error(`daemon A has no loopback TCP address: ${a.addrs.join(' ')}`)
  const b = await startProcessDaemon({ listen: [], env, command, bootstrap: [seed.includes('/p2p/') ? seed : `${seed}/p2p/${a.peerId}`] })
  const rawDirs = [await tempDir('bench-helia-'), await tempDir('bench-helia-')]
  const [ra, rb] = await Promise.all(rawDirs.map((d) => rawHelia(join(d, 'node'))))
  let rawServer: RawFilesServer | undefined
  try {
    rawServer = await startRawFilesServer()
    if (!ra || !rb) throw new Error('raw helia nodes did not start')
    await rb.libp2p.dial(ra.libp2p.getMultiaddrs()[0] ?? multiaddr('/ip4/127.0.0.1/tcp/1'))
    const [ca, cb] = await Promise.all([a.client(), b.client()])
    const deadline = Date.now() + 30_000
    while ((await cb.call<{ connections: number }>('node.info', {})).connections === 0) {
      if (Date.now() > deadline) throw new Error('daemon B did not connect to A')
      await new Promise((r) => setTimeout(r, 50))
    }
    const pairs = { http: httpPair(a, b), ws: wsPair(ca, cb), helia: heliaPair(ra, rb), rawHttp: rawHttpStore(rawServer.origin) }
    const results = new Map<string, Figures>()
    const figures = (key: string): Figures => {
      const found = results.get(key)
      if (found) return found
      const made: Figures = { store: [], fetch: [] }
      results.set(key, made)
      return made
    }
    let seed = 1
    const failures: string[] = []
    for (const size of SIZES) {
      process.stdout.write(`files: ${size} MiB x ${ROUNDS[size]} rounds...\n`)
      for (let round = 0; round < (ROUNDS[size] ?? 1); round++) {
        // alternate which side goes first so both see the same machine state
        const order = round % 2 === 0 ? (['http', 'ws', 'rawHttp', 'helia'] as const) : (['helia', 'rawHttp', 'ws', 'http'] as const)
        for (const kind of order) {
          if (kind === 'ws' && !WS_SIZES.has(size)) continue
          const storeOnly = kind === 'rawHttp'
          await measure(pairs[kind], size, seed++, figures(`${kind}:${size}`), storeOnly).catch((err: Error) => {
            // reported with the figures, not the end of the run: a stall under load is a finding
            failures.push(`${kind} ${size} MiB round ${round + 1}: ${err.message}`)
            process.stdout.write(`  failed: ${failures.at(-1)}\n${a.stderr().slice(-1000)}${b.stderr().slice(-1000)}\n`)
          })
        }
      }
    }
    const spread = (xs: number[]) => (xs.length < 2 ? '' : ` (${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))})`)
    const rows = SIZES.flatMap((size) => {
      const raw = figures(`helia:${size}`)
      const rawStore = median(raw.store)
      const rawFetch = median(raw.fetch)
      const rawHttp = figures(`rawHttp:${size}`).store
      const rawHttpStore = median(rawHttp)
      return (['http', 'ws'] as const)
        .filter((kind) => kind === 'http' || WS_SIZES.has(size))
        .map((kind) => {
          const f = figures(`${kind}:${size}`)
          const s = median(f.store)
          const g = median(f.fetch)
          return [
            `${size} MiB`,
            kind === 'http' ? 'HTTP PUT / GET /ipfs' : 'WS storefile / getfile',
            `${fmt(s)}${spread(f.store)}`,
            `${fmt(rawHttpStore)}${spread(rawHttp)}`,
            kind === 'http' ? `${fmt(s / rawHttpStore)}x` : '',
            `${fmt(rawStore)}${spread(raw.store)}`,
            `${fmt(s / rawStore)}x`,
            fmt(g),
            fmt(rawFetch),
            `${fmt(g / rawFetch)}x`,
          ]
        })
    })
    const body = [
      '### Files between two daemons on loopback',
      '',
      'Both daemons are `switchboard start` in their own processes on the default configuration (listeners on 0.0.0.0: TCP, WebSockets, WebRTC-direct; B bootstraps from A), the client in the bench process.',
      'Store: on daemon A (HTTP PUT streamed, or WebSocket `storefile` with base64), including the directory update and block counting. Fetch: on daemon B, which holds nothing of it, over bitswap from A (HTTP `GET /ipfs/<cid>` streamed, or `getfile` and its `gotFile` push).',
      "Two raw baselines for the store. raw HTTP store: the raw library in the daemons' topology, a bare `node:http` server in its own process streaming the PUT body into `unixfs.addByteStream` over a plain blockstore-fs store (bench/support/raw-files-server.ts), sent by the same client: the same HTTP hop and importer, without the directory, limits, root save and counting. raw addBytes: `unixfs.addBytes` of the buffer already in memory, in the bench process (no HTTP, no second process, no 64 KiB body chunks to gather into 1 MiB blocks): an upper bound a streamed upload does not reach.",
      'raw fetch: two plain Helia nodes built like the daemons (fs blockstore, LevelDB, bitswap) in the bench process, dialled to each other; `unixfs.cat` drained on the one that did not add it.',
      `MB/s = 10^6 bytes per second, median (min-max) of ${SIZES.map((s) => `${ROUNDS[s]} (${s} MiB)`).join(', ')} rounds, the order of the sides alternating each round, a full GC in the bench process before each timed step, fresh random content each step; ratio = Switchboard / that raw baseline.`,
      '',
      markdownTable(
        [
          'Size',
          'Switchboard path',
          'Store MB/s',
          'raw HTTP store MB/s',
          'ratio',
          'raw addBytes MB/s',
          'ratio',
          'Fetch MB/s',
          'raw fetch MB/s',
          'Fetch ratio',
        ],
        rows,
      ),
      ...(failures.length === 0 ? [] : ['', `Failed rounds (left out of the medians): ${failures.join('; ')}.`]),
    ].join('\n')
    await publish('files', body)
    return Object.fromEntries(results)
  } finally {
    agent.destroy()
    await Promise.allSettled([a.destroy(), b.destroy(), ra?.stop(), rb?.stop(), rawServer?.stop()])
    await Promise.all(rawDirs.map((d) => rm(d, { recursive: true, force: true })))
  }
}

runIfMain(import.meta.url, run)
