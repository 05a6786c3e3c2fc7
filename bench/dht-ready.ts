import '../src/shims.ts'
import { existsSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { bundleBeside } from '../scripts/build-daemon.ts'
import { cacheFileOf } from '../src/cli/code-cache.ts'
import { fmt, markdownTable, median, publish, runIfMain } from './machine.ts'
import { type BenchChild, spawnBenchChild } from './support/bench-child.ts'
import { compiledOnce } from './support/compiled-once.ts'
import { type DefaultDaemon, daemonArgs, loopbackTcp, startDefaultDaemon } from './support/default-daemon.ts'

/**
 * Start to DHT ready in a 5-node loopback network, each node in its own process as users start it:
 * Switchboard is `switchboard start` as `npm start` runs it (the bundle, default configuration and
 * listeners), joining a seed daemon with `--bootstrap`; timed from the spawn to the first `node.info`
 * that says `dhtReady` (polled every 5 ms once its WebSocket answers; the banner time is recorded too).
 * raw js-libp2p is a plain Node program (bench/support/raw-dht-child.ts, its packages loaded from
 * node_modules) that builds TCP, Noise, Yamux, identify, ping and a server-mode kad-dht on the same
 * protocol, dials the seed and prints when its routing table holds a peer; timed from the spawn to that line.
 */

const NETWORK_SIZE = 5
const ROUNDS = Number(process.env.BENCH_DHT_ROUNDS ?? 3)
const PROTOCOL = '/switchboard/kad/1.0.0'
const TIMEOUT_MS = 60_000

// ---- the raw node: bench/support/raw-dht-child.ts, compiled once, run by plain Node ----

const rawChildScript = compiledOnce('raw-dht-child.ts', 'raw')

async function rawNetwork(): Promise<number[]> {
  const script = await rawChildScript() // compiled before the clock starts
  const children: BenchChild[] = []
  const ready: number[] = []
  try {
    const seed = spawnBenchChild([script, PROTOCOL, 'seed'], { what: 'raw seed node' })
    children.push(seed)
    const seedAddr = (await seed.line('addr ', TIMEOUT_MS)).slice('addr '.length).trim()
    for (let i = 1; i < NETWORK_SIZE; i++) {
      const t0 = performance.now()
      const joiner = spawnBenchChild([script, PROTOCOL, seedAddr], { what: 'raw node' })
      children.push(joiner)
      await joiner.line('ready', TIMEOUT_MS)
      ready.push(performance.now() - t0)
    }
  } finally {
    await Promise.all(children.map((c) => c.stop()))
  }
  return ready
}

// ---- Switchboard daemons ----

async function dhtReadyOf(d: DefaultDaemon, t0: number): Promise<number> {
  const client = await d.client()
  const deadline = Date.now() + TIMEOUT_MS
  while (!(await client.call<{ dhtReady: boolean }>('node.info', {})).dhtReady) {
    if (Date.now() > deadline) throw new Error('daemon: DHT not ready')
    await new Promise((r) => setTimeout(r, 5))
  }
  return performance.now() - t0
}

async function switchboardNetwork(): Promise<{ up: number[]; ready: number[] }> {
  const daemons: DefaultDaemon[] = []
  const up: number[] = []
  const ready: number[] = []
  // mDNS off: the nodes find each other by the bootstrap address only, as the raw nodes do
  const args = ['--no-mdns']
  try {
    await daemonArgs() // bundled before the clock starts
    const seed = await startDefaultDaemon({ args })
    daemons.push(seed)
    const seedAddr = loopbackTcp(seed)
    for (let i = 1; i < NETWORK_SIZE; i++) {
      const t0 = performance.now()
      const d = await startDefaultDaemon({ args: [...args, '--bootstrap', seedAddr] })
      daemons.push(d)
      up.push(performance.now() - t0)
      ready.push(await dhtReadyOf(d, t0))
    }
  } finally {
    await Promise.allSettled(daemons.map((d) => d.stop()))
  }
  return { up, ready }
}

/**
 * A user's first start after a build, timed to the banner: the launcher has no code cache yet (it writes
 * one when this daemon stops), where every later start, the rounds' among them, has it (src/cli/code-cache.ts).
 */
async function firstStart(): Promise<{ upMs: number; cacheWritten: boolean }> {
  const [launcher] = await daemonArgs()
  const cache = cacheFileOf(bundleBeside(launcher as string), 'start')
  await rm(cache, { force: true })
  const t0 = performance.now()
  const d = await startDefaultDaemon({ args: ['--no-mdns'] })
  const upMs = performance.now() - t0
  await d.stop()
  return { upMs, cacheWritten: existsSync(cache) }
}

export async function run() {
  const sbUp: number[] = []
  const sbReady: number[] = []
  const raw: number[] = []
  const first = process.env.SWITCHBOARD_BENCH_TSX === '1' ? undefined : await firstStart()
  for (let round = 0; round < ROUNDS; round++) {
    process.stdout.write(`dht-ready: round ${round + 1} of ${ROUNDS}...\n`)
    // alternate which goes first
    const sides = round % 2 === 0 ? (['sb', 'raw'] as const) : (['raw', 'sb'] as const)
    for (const side of sides) {
      if (side === 'raw') raw.push(...(await rawNetwork()))
      else {
        const r = await switchboardNetwork()
        sbUp.push(...r.up)
        sbReady.push(...r.ready)
      }
    }
  }
  const row = (name: string, xs: number[]) => [name, xs.length, fmt(Math.min(...xs)), fmt(median(xs)), fmt(Math.max(...xs))]
  const body = [
    '### Start to DHT ready, each node its own process',
    '',
    `${ROUNDS} rounds; each starts a seed, then ${NETWORK_SIZE - 1} nodes one after another, each bootstrapping from the seed over loopback TCP.`,
    'Switchboard: `switchboard start` as `npm start` runs it (the launcher dist/switchboard.mjs on the bundle dist/switchboard.cjs, with its code cache) on the default configuration but mDNS (listeners on 0.0.0.0: TCP, WebSockets, WebRTC-direct; LevelDB + fs blockstore, Helia, gossipsub, bitswap, Fastify), from the spawn to the first `node.info` with `dhtReady` (polled every 5 ms).',
    'raw: a plain Node program on js-libp2p (bench/support/raw-dht-child.ts: TCP, Noise, Yamux, identify, ping, server-mode kad-dht on the same protocol, in-memory stores; its packages loaded from node_modules) from the spawn to its routing table holding the seed. Both include loading their modules.',
    '',
    markdownTable(
      ['Joining a 5-node loopback network', 'Samples', 'min ms', 'median ms', 'max ms'],
      [
        row('Switchboard: spawn → banner (HTTP up)', sbUp),
        row('Switchboard: spawn → node.info dhtReady', sbReady),
        row('raw js-libp2p: spawn → routing table > 0', raw),
      ],
    ),
    '',
    `Switchboard/raw (median to DHT ready): **${fmt(median(sbReady) / median(raw))}×**`,
    ...(first === undefined
      ? []
      : [
          '',
          `The rounds' daemons start with the launcher's V8 code cache, as every start after a user's first does. That first start, before the rounds (no cache; it writes the cache when it stops): spawn → banner ${fmt(first.upMs)} ms${first.cacheWritten ? '' : ' (**no cache was written**: the rounds compiled the bundle too)'}.`,
        ]),
  ].join('\n')
  await publish('dht-ready', body)
  return { sbUp, sbReady, raw }
}

runIfMain(import.meta.url, run)
