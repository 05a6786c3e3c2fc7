import '../src/shims.ts'
import { createActor, fromPromise } from 'xstate'
import type { WebSocket } from 'ws'
import { ActorRegistry } from '../src/actors/supervisor/actor-registry.ts'
import { systemIds } from '../src/machines/actor-ids.ts'
import { actorLookup } from '../src/machines/actor-refs.ts'
import { peerMachine } from '../src/machines/peer/peer.machine.ts'
import type { BackoffSettings, DialResult, PeerEvent } from '../src/machines/peer/peer.types.ts'
import { peersMachine } from '../src/machines/peers/peers.machine.ts'
import type { PeersEvent } from '../src/machines/peers/peers.types.ts'
import { InspectorHub, inspectorCounters } from '../src/server/inspector.ts'
import { fmt, forceGc, markdownTable, median, publish, runIfMain } from './machine.ts'

/**
 * What `--inspect` costs. Peer actors under one `peers` shard with the daemon's actor registry
 * attached, as in the daemon; events go in as libp2p's would (`peers.route` to the shard, which
 * hands each to its peer actor). Three setups, interleaved round by round:
 * - off: the daemon without `--inspect` (the default): no hub, nothing listens to the registry's
 *   inspection stream beyond what it always did;
 * - on, no client: `--inspect` with nobody connected to /inspect (the hub exists, does not listen);
 * - on, 1 client: one /inspect client (a socket that accepts every frame at once, so the figure is
 *   the daemon's own work: converting, projecting, serialising each event once), every frame flushed.
 */

const PEERS = 1_000
const EVENTS = 20_000
const ROUNDS = 9
const ALIAS = 'bench'
const backoff: BackoffSettings = { initialMs: 160, maxMs: 30_000, explicitRetryMs: 1_000, explicitTries: 3 }

const peer = peerMachine.provide({
  actors: {
    dial: fromPromise<DialResult, { alias: string; peerId: string }>(async () => ({ connectionType: 'direct', at: Date.now() })),
    hangUp: fromPromise<void, { alias: string; peerId: string }>(async () => {}),
  },
})
const peers = peersMachine.provide({ actors: { peer } })

type Setup = 'off' | 'on, no client' | 'on, 1 client'
const SETUPS: Setup[] = ['off', 'on, no client', 'on, 1 client']

interface Figures {
  /** peer.connected / peer.disconnected through the shard to the peer actors, per second. */
  eventsPerSecond: number
  /** Frames and bytes the client got. */
  frames: number
  bytes: number
}

/** A client that takes every frame at once: what is measured is the daemon's side. */
function sink(): { socket: WebSocket; bytes: () => number } {
  let bytes = 0
  const socket = {
    OPEN: 1,
    readyState: 1,
    bufferedAmount: 0,
    send: (text: string) => {
      bytes += text.length
    },
    once: () => socket,
    on: () => socket,
    close: () => {},
  }
  return { socket: socket as unknown as WebSocket, bytes: () => bytes }
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

async function measure(setup: Setup, ids: string[], events: number): Promise<Figures> {
  const registry = new ActorRegistry()
  const shard = createActor(peers, { systemId: systemIds.peers(ALIAS, 0), input: { alias: ALIAS, shard: 0 }, inspect: registry.inspect })
  shard.start()
  const hub = setup === 'off' ? undefined : new InspectorHub(registry, () => shard)
  const route = (peerId: string, event?: PeerEvent): PeersEvent => ({
    type: 'peers.route',
    peerId,
    spawn: event === undefined,
    input: { alias: ALIAS, peerId, backoff },
    ...(event ? { event } : {}),
  })
  for (const id of ids) shard.send(route(id))
  const client = setup === 'on, 1 client' ? sink() : undefined
  if (client) hub?.add(client.socket)
  await nextTurn()
  const framesBefore = inspectorCounters.serialised
  const bytesBefore = client?.bytes() ?? 0
  const at = Date.now()
  const t = performance.now()
  for (let i = 0; i < events; i++) {
    const id = ids[i % ids.length] as string
    const connect = Math.floor(i / ids.length) % 2 === 0
    shard.send(route(id, connect ? { type: 'peer.connected', connectionType: 'direct', at } : { type: 'peer.disconnected', at }))
  }
  // the hub converts a turn later: its work is counted until its last frame is out
  await nextTurn()
  const ms = performance.now() - t
  const lookup = actorLookup(shard.system)
  const last = Math.floor((events - 1) / ids.length) % 2 === 0 ? 'connected' : 'disconnected'
  if (!ids.every((id) => lookup.peer(ALIAS, id)?.getSnapshot().matches(last))) throw new Error(`${setup}: not every peer actor is ${last}`)
  hub?.close()
  shard.stop()
  return {
    eventsPerSecond: (events / ms) * 1000,
    frames: inspectorCounters.serialised - framesBefore,
    bytes: (client?.bytes() ?? 0) - bytesBefore,
  }
}

interface ReplayFigures {
  actors: number
  ms: number
  frames: number
  bytes: number
}

/** What a client connecting to a daemon with `n` peer actors costs: the replay of the whole tree, on the event loop. */
async function replayCost(n: number): Promise<ReplayFigures> {
  const registry = new ActorRegistry()
  const shard = createActor(peers, { systemId: systemIds.peers(ALIAS, 0), input: { alias: ALIAS, shard: 0 }, inspect: registry.inspect })
  shard.start()
  for (let i = 0; i < n; i++) {
    const peerId = `12D3KooWReplay${String(i).padStart(38, '0')}`
    shard.send({ type: 'peers.route', peerId, spawn: true, input: { alias: ALIAS, peerId, backoff } })
  }
  const hub = new InspectorHub(registry, () => shard)
  const client = sink()
  const before = inspectorCounters.serialised
  forceGc()
  const t = performance.now()
  hub.add(client.socket)
  const ms = performance.now() - t
  const frames = inspectorCounters.serialised - before
  hub.close()
  shard.stop()
  return { actors: n + 1, ms, frames, bytes: client.bytes() }
}

export async function run(): Promise<Record<Setup, Figures[]>> {
  const ids = Array.from({ length: PEERS }, (_, i) => `12D3KooWBench${String(i).padStart(39, '0')}`)
  for (const setup of SETUPS) await measure(setup, ids, EVENTS / 10) // warm-up
  const results = Object.fromEntries(SETUPS.map((s) => [s, [] as Figures[]])) as Record<Setup, Figures[]>
  for (let round = 0; round < ROUNDS; round++) {
    // the order rotates each round, and each run starts after a full GC: no setup pays for the garbage of the one before
    const order = SETUPS.map((_, i) => SETUPS[(i + round) % SETUPS.length] as Setup)
    for (const setup of order) {
      forceGc()
      results[setup].push(await measure(setup, ids, EVENTS))
    }
  }
  await replayCost(1_000) // warm-up
  const replays: ReplayFigures[] = []
  for (const n of [1_000, 10_000]) {
    const runs: ReplayFigures[] = []
    for (let i = 0; i < 3; i++) runs.push(await replayCost(n))
    replays.push({ ...(runs[0] as ReplayFigures), ms: median(runs.map((r) => r.ms)) })
  }
  await publish('inspector', toMarkdown(results, replays))
  return results
}

function toMarkdown(r: Record<Setup, Figures[]>, replays: ReplayFigures[]): string {
  const off = median(r.off.map((f) => f.eventsPerSecond))
  const rows = SETUPS.map((setup) => {
    const eps = median(r[setup].map((f) => f.eventsPerSecond))
    const frames = median(r[setup].map((f) => f.frames))
    const bytes = median(r[setup].map((f) => f.bytes))
    return [setup, fmt(eps, 0), `${fmt(eps / off, 2)}×`, fmt(frames, 0), bytes > 0 ? fmt(bytes / frames, 0) : '-']
  })
  return [
    '### `--inspect`: events through peer actors, off and on',
    '',
    `${fmt(PEERS, 0)} peer actors under one \`peers\` shard with the daemon's actor registry; ${fmt(EVENTS, 0)} \`peers.route\` events (peer.connected / peer.disconnected, each handed on to its peer actor), timed until the last is processed and, with a client, the last inspector frame is out. off = the default (no hub, no listener); on, no client = \`--inspect\` with nobody on /inspect; on, 1 client = one /inspect client taking every frame at once (the daemon's own cost: convert, project the context, serialise once). Median of ${ROUNDS} rounds, setups interleaved in a rotating order, each after a full GC, after a warm-up.`,
    '',
    markdownTable(['setup', 'events/s', 'vs off', 'frames serialised', 'bytes/frame'], rows),
    '',
    'A client connecting: the replay of the live tree (each actor as `@xstate.actor` + `@xstate.snapshot`), serialised and handed to the socket in one go on the event loop. Median of 3.',
    '',
    markdownTable(
      ['live actors', 'replay, ms', 'frames', 'MiB'],
      replays.map((x) => [fmt(x.actors, 0), fmt(x.ms, x.ms < 100 ? 1 : 0), fmt(x.frames, 0), fmt(x.bytes / 1024 / 1024, 1)]),
    ),
  ].join('\n')
}

runIfMain(import.meta.url, run)
