import '../src/shims.ts'
import { createActor, fromCallback, fromPromise, waitFor } from 'xstate'
import { PeerRoutes } from '../src/actors/peer/peer-route.ts'
import { ActorRegistry } from '../src/actors/supervisor/actor-registry.ts'
import { nodeMachine } from '../src/machines/node/node.machine.ts'
import type { NodeEvent, NodeInput, NodeStarted } from '../src/machines/node/node.types.ts'
import { peerMachine } from '../src/machines/peer/peer.machine.ts'
import type { BackoffSettings, DialResult, PeerEvent } from '../src/machines/peer/peer.types.ts'
import { PEER_SHARDS, systemIds } from '../src/machines/actor-ids.ts'
import { actorLookup, type PeerRef } from '../src/machines/actor-refs.ts'
import { peersMachine } from '../src/machines/peers/peers.machine.ts'
import type { PeersEvent } from '../src/machines/peers/peers.types.ts'
import { fmt, forceGc, markdownTable, median, publish, runIfMain } from './machine.ts'

/**
 * 100,000 remote-peer actors on fake connections (`--peers N`). Sharded: the daemon's layout, a node
 * machine with fake libp2p actors whose `watchPeers` hands events on as the daemon's does
 * (peer-route.ts: straight to a running peer actor, else `peers.route` to its running shard, which
 * spawns it, or through the node, which spawns the shard first; `peers.release` to the shard alike).
 * Baseline, the raw library: the same peer machine as root XState
 * actors, events sent straight to them. Both run with the daemon's actor registry attached and no
 * listener on it: it builds an actor's client view when asked (the spawn phase lists them all). Phases, each timed until every actor has processed its event:
 * spawn, a burst of `peer.connected`, a burst of `peer.disconnected`, release, and spawning them all
 * again after the release (churn).
 */

/** How many peer actors (issue 15's goal: 100k in one daemon); `--peers N` or BENCH_PEERS overrides. */
function argNumber(name: string, env: string): number | undefined {
  const i = process.argv.indexOf(name)
  const raw = i >= 0 ? process.argv[i + 1] : process.env[env]
  return raw === undefined ? undefined : Number(raw)
}
const PEERS = argNumber('--peers', 'BENCH_PEERS') ?? 100_000
const ROUNDS = argNumber('--rounds', 'BENCH_ROUNDS') ?? 3
const ALIAS = 'bench'
const backoff: BackoffSettings = { initialMs: 160, maxMs: 30_000, explicitRetryMs: 1_000, explicitTries: 3 }

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
/** Distinct strings shaped like Ed25519 peer ids (52 characters): the machines never parse them. */
export function peerIds(n: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const digits = ['12D3KooW']
    let x = i * 7919 + 104_729
    for (let k = 0; k < 44; k++) {
      digits.push(B58[x % 58] as string)
      x = Math.floor(x / 58) + (k + 1) * (i + 13)
    }
    // flat, as libp2p's peerId.toString() is: a += chain would be a 45-piece rope that every comparison walks
    return digits.join('')
  })
}

const peer = peerMachine.provide({
  actors: {
    dial: fromPromise<DialResult, { alias: string; peerId: string }>(async () => ({ connectionType: 'direct', at: Date.now() })),
    hangUp: fromPromise<void, { alias: string; peerId: string }>(async () => {}),
  },
})
const peers = peersMachine.provide({ actors: { peer } })

interface System {
  /** Hand one event to the system the way its real source would. */
  send(event: PeersEvent): void
  peer(peerId: string): PeerRef | undefined
  registry: ActorRegistry
  stop(): void
}

/** The daemon's layout: a node actor whose watchPeers actor is where libp2p's events come in. */
export async function sharded(): Promise<System> {
  const registry = new ActorRegistry()
  let inject: ((event: NodeEvent) => void) | undefined
  // made per watch, as the daemon's watchPeers does (peer-events.ts)
  let routes: PeerRoutes | undefined
  const node = nodeMachine.provide({
    actors: {
      createNode: fromPromise<NodeStarted, { alias: string }>(async () => ({ peerId: '12D3KooWBenchLocalNode', addrs: [] })),
      stopNode: fromPromise(async () => {}),
      watchNode: fromCallback(() => () => {}),
      watchPeers: fromCallback<NodeEvent, { alias: string; backoff: NodeInput['backoff'] }>(({ sendBack }) => {
        inject = sendBack
        routes = undefined
        return () => {
          inject = undefined
        }
      }),
      peers,
    },
  })
  const input: NodeInput = { alias: ALIAS, persistent: true, dhtBootstrapTimeoutMs: 60_000, dhtQueueLimit: 16, dhtConcurrency: 4, backoff }
  const actor = createActor(node, { systemId: systemIds.node(ALIAS), input, inspect: registry.inspect })
  actor.start()
  await waitFor(actor, (s) => s.value === 'running')
  return {
    send: (event) => {
      if (!inject) throw new Error('watchPeers is not running')
      // as the daemon's watchPeers does (peer-events.ts): straight to a running peer actor, else to its shard, else through the node
      routes ??= new PeerRoutes(actor.system, ALIAS, inject)
      if (event.type === 'peers.route') routes.route(event.input, event.event, event.spawn)
      else if (event.type === 'peers.release') routes.release(event.peerId)
      else inject(event)
    },
    peer: (peerId) => actorLookup(actor.system).peer(ALIAS, peerId),
    registry,
    stop: () => actor.stop(),
  }
}

/**
 * Baseline, the raw library: each peer actor a root XState actor of its own (createActor, no parent,
 * no routing), events sent straight to it, with the same registry attached. (The former baseline,
 * every peer actor under one parent, spawns in quadratic time: 111 s for 10k, not runnable at 100k.)
 */
export async function raw(): Promise<System> {
  const registry = new ActorRegistry()
  const actors = new Map<string, PeerRef>()
  return {
    send: (event) => {
      if (event.type === 'peers.route') {
        let ref = actors.get(event.peerId)
        if (ref === undefined && event.spawn) {
          ref = createActor(peer, { systemId: systemIds.peer(ALIAS, event.peerId), input: event.input, inspect: registry.inspect })
          actors.set(event.peerId, ref)
          ref.start()
        }
        if (ref !== undefined && event.event !== undefined) ref.send(event.event)
      } else if (event.type === 'peers.release') {
        actors.get(event.peerId)?.stop()
        actors.delete(event.peerId)
      }
    },
    peer: (peerId) => actors.get(peerId),
    registry,
    stop: () => {
      for (const ref of actors.values()) ref.stop()
    },
  }
}

interface Figures {
  spawnMs: number
  /** CPU the process spent on the spawn (all threads, GC included): under load the wall time says more about the neighbours. */
  spawnCpuMs: number
  /** Heap held per live actor (actor, snapshot, registry view), after a full GC. */
  bytesPerActor: number
  connectMs: number
  /** CPU the process spent on the burst (all threads, GC included). */
  connectCpuMs: number
  disconnectMs: number
  disconnectCpuMs: number
  releaseMs: number
  /** Heap still held after every actor was released, against before the spawn. */
  leftAfterReleaseBytes: number
  /** Spawning them all again after the release (churn). */
  respawnMs: number
}

function cpuTimed(fn: () => void): number {
  const before = process.cpuUsage()
  fn()
  const used = process.cpuUsage(before)
  return (used.user + used.system) / 1000
}

function timed(fn: () => void): number {
  const t = performance.now()
  fn()
  return performance.now() - t
}

/** Every peer actor is in `state` (or, for undefined, gone): a phase is over only when all of them are. */
function expectAll(system: System, ids: string[], check: (ref: PeerRef | undefined) => boolean, phase: string): void {
  const wrong = ids.filter((id) => !check(system.peer(id)))
  if (wrong.length > 0) throw new Error(`${phase}: ${wrong.length} of ${ids.length} peer actors did not get there (first ${wrong[0]})`)
}

export async function measure(make: () => Promise<System>, ids: string[]): Promise<Figures> {
  forceGc()
  const before = process.memoryUsage().heapUsed
  const system = await make()
  const route = (peerId: string, event?: PeerEvent): PeersEvent => ({
    type: 'peers.route',
    peerId,
    spawn: event === undefined,
    input: { alias: ALIAS, peerId, backoff },
    ...(event ? { event } : {}),
  })
  // every send runs to completion synchronously (each actor's mailbox is idle), so a loop's time is the processing time
  let spawnMs = 0
  const spawnCpuMs = cpuTimed(() => {
    spawnMs = timed(() => {
      for (const id of ids) system.send(route(id))
    })
  })
  expectAll(system, ids, (ref) => ref?.getSnapshot().value === 'disconnected', 'spawn')
  if (system.registry.list('peer:').length !== ids.length) throw new Error('the registry does not hold every peer actor')
  forceGc()
  const bytesPerActor = (process.memoryUsage().heapUsed - before) / ids.length

  const at = Date.now()
  let connectMs = 0
  const connectCpuMs = cpuTimed(() => {
    connectMs = timed(() => {
      for (const id of ids) system.send(route(id, { type: 'peer.connected', connectionType: 'direct', at }))
    })
  })
  expectAll(system, ids, (ref) => ref?.getSnapshot().matches('connected') === true, 'connect')
  let disconnectMs = 0
  const disconnectCpuMs = cpuTimed(() => {
    disconnectMs = timed(() => {
      for (const id of ids) system.send(route(id, { type: 'peer.disconnected', at: at + 1 }))
    })
  })
  expectAll(system, ids, (ref) => ref?.getSnapshot().value === 'disconnected', 'disconnect')
  // neither known nor added: watchPeers releases each one after its disconnect
  const releaseMs = timed(() => {
    for (const id of ids) system.send({ type: 'peers.release', peerId: id })
  })
  expectAll(system, ids, (ref) => ref === undefined, 'release')
  if (system.registry.list('peer:').length !== 0) throw new Error('the registry still holds released peer actors')
  forceGc()
  const leftAfterReleaseBytes = process.memoryUsage().heapUsed - before
  // churn: a parent's children object is copied on every spawn and stop, and once a child was
  // stopped V8 keeps it as a slow dictionary; this is the steady-state cost of a new peer
  const respawnMs = timed(() => {
    for (const id of ids) system.send(route(id))
  })
  expectAll(system, ids, (ref) => ref?.getSnapshot().value === 'disconnected', 'respawn')
  system.stop()
  return {
    spawnMs,
    spawnCpuMs,
    bytesPerActor,
    connectMs,
    connectCpuMs,
    disconnectMs,
    disconnectCpuMs,
    releaseMs,
    leftAfterReleaseBytes,
    respawnMs,
  }
}

const medianOf = (runs: Figures[], key: keyof Figures) => median(runs.map((r) => r[key]))

export async function run(): Promise<{ sharded: Figures[]; raw: Figures[]; gc: boolean }> {
  const gc = forceGc()
  const ids = peerIds(PEERS)
  if (new Set(ids).size !== ids.length) throw new Error('peer ids collide')
  // warm-up: JIT and the machines' lazy structures, on a tenth of the peers
  const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined
  if (only !== 'raw') await measure(sharded, ids.slice(0, PEERS / 10))
  if (only !== 'sharded') await measure(raw, ids.slice(0, PEERS / 10))
  const results = { sharded: [] as Figures[], raw: [] as Figures[], gc }
  for (let round = 0; round < ROUNDS; round++) {
    if (only !== 'raw') results.sharded.push(await measure(sharded, ids))
    if (only !== 'sharded') results.raw.push(await measure(raw, ids))
  }
  if (process.argv.includes('--no-publish')) process.stdout.write(`${toMarkdown(results)}\n`)
  else await publish('peer-actors', toMarkdown(results))
  return results
}

function toMarkdown(r: { sharded: Figures[]; raw: Figures[]; gc: boolean }): string {
  const rate = (ms: number) => fmt((PEERS / ms) * 1000, 0)
  const ms = (n: number) => fmt(n, n < 100 ? 1 : 0)
  const ratio = (a: number, b: number) => `${fmt(a / b, 2)}×`
  const row = (label: string, key: keyof Figures, show: (n: number) => string, withRate = false) => {
    const s = medianOf(r.sharded, key)
    const f = medianOf(r.raw, key)
    return [label, withRate ? `${show(s)} (${rate(s)}/s)` : show(s), withRate ? `${show(f)} (${rate(f)}/s)` : show(f), ratio(f, s)]
  }
  const table = markdownTable(
    [`${fmt(PEERS, 0)} peer actors`, `sharded (${PEER_SHARDS} shards under a node)`, 'raw XState (root actors)', 'raw / sharded'],
    [
      row('spawn, ms (actors/s)', 'spawnMs', ms, true),
      row('spawn, CPU ms (all threads)', 'spawnCpuMs', ms),
      row('heap per live actor, bytes', 'bytesPerActor', (n) => fmt(n, 0)),
      row('burst of peer.connected, ms (events/s)', 'connectMs', ms, true),
      row('burst of peer.connected, CPU ms (events/CPU s)', 'connectCpuMs', ms, true),
      row('burst of peer.disconnected, ms (events/s)', 'disconnectMs', ms, true),
      row('burst of peer.disconnected, CPU ms (events/CPU s)', 'disconnectCpuMs', ms, true),
      row('release all, ms (actors/s)', 'releaseMs', ms, true),
      row('heap left after release, KiB', 'leftAfterReleaseBytes', (n) => fmt(n / 1024, 0)),
      row('spawn again after the release, ms (actors/s)', 'respawnMs', ms, true),
    ],
  )
  return [
    '### Remote-peer actors on fake connections',
    '',
    `Sharded: the daemon's layout, a node machine (fake libp2p actors) whose \`watchPeers\` actor hands on libp2p's connect and disconnect events as the daemon's does (straight to a running peer actor, else \`peers.route\` to its shard, which spawns it, through the node only while the shard does not exist yet); peers spread over ${PEER_SHARDS} \`peers\` shards by a hash of their id, each peer actor its shard's child under a slot number (registered under its systemId). Raw XState: the same peer machine as root actors (createActor), events sent straight to them. Both with the daemon's actor registry attached, no listener on it (as in a daemon no client watches): it builds an actor's client view when asked, and the bench lists every view after the spawn, so the views are part of the heap figure. Each phase sends one event per peer and ends when every actor has processed it (checked); the peers are neither known nor added, so none dials. Median of ${ROUNDS} rounds after a warm-up on a tenth of the peers${r.gc ? '; heap after a full GC' : '; no GC available, heap figures are rough'}.`,
    '',
    table,
  ].join('\n')
}

runIfMain(import.meta.url, run)
