import { describe, expect, it } from 'vitest'
import { type AnyActorRef, type AnyMachineSnapshot, createActor, type EventObject } from 'xstate'
import { systemIds } from '../../src/machines/actor-ids.ts'
import type { PeerContext, PeerEvent } from '../../src/machines/peer/peer.types.ts'
import { peersMachine, peersPublicContext } from '../../src/machines/peers/peers.machine.ts'
import type { PeersContext, PeersEvent } from '../../src/machines/peers/peers.types.ts'
import {
  Coverage,
  describeEvents,
  generatePaths,
  inspectAll,
  type PathSpec,
  PeerWorld,
  Processed,
  ShardObserver,
} from '../support/peer-world.ts'

/*
 * The peers shard against a fake world: paths from the machine (xstate/graph) drive a real shard
 * whose children are real peer actors bound to the world; after every step the actors that exist
 * in the actor system, the events they received and the dials they left behind are checked against
 * what the shard is for (catalog.ts): an actor for a peer from its first route with spawn, every
 * routed event delivered to it, release stops it. The expectation is kept by hand, from the events.
 */

const ALIAS = 'm'
const PEERS = ['12D3KooWShardPeerOne', '12D3KooWShardPeerTwo']
const backoff = { initialMs: 100, maxMs: 400, explicitRetryMs: 50, explicitTries: 2 }
const id = (peerId: string) => systemIds.peer(ALIAS, peerId)

const route = (peerId: string, spawn: boolean, event?: PeerEvent): PeersEvent => ({
  type: 'peers.route',
  peerId,
  spawn,
  input: { alias: ALIAS, peerId, backoff },
  ...(event ? { event } : {}),
})

const events: PeersEvent[] = PEERS.flatMap((peerId) => [
  // a client's connect: spawns the actor if need be, which dials
  route(peerId, true, { type: 'peer.connect' }),
  // a known peer at start: spawned with no event
  route(peerId, true),
  // libp2p's disconnect or a removepeers: only to an actor that exists
  route(peerId, false, { type: 'peer.update', name: 'renamed' }),
  { type: 'peers.release', peerId },
])
// one of the node's unreachable peers is back: every live actor hears it
events.push({ type: 'peers.broadcast', event: { type: 'peer.networkBack' } })

const spec: PathSpec = {
  machine: peersMachine,
  input: { alias: ALIAS, shard: 3 },
  key: (snapshot: AnyMachineSnapshot) => JSON.stringify([snapshot.value, [...(snapshot.context as PeersContext).peerIds].sort()]),
  events: () => events,
}

type Outcome =
  | 'broadcast to the live actors'
  | 'spawned'
  | 'routed to a live actor'
  | 'dropped (no actor, no spawn)'
  | 'released a live actor'
  | 'released an unknown peer'
const outcomes = new Set<Outcome>()
const coverage = new Coverage(peersMachine)

async function drive(path: EventObject[]): Promise<void> {
  const world = new PeerWorld(ALIAS)
  const observer = new ShardObserver()
  const processed = new Processed()
  const shard = createActor(peersMachine.provide({ actors: { peer: world.peerMachine() } }), {
    input: spec.input as never,
    clock: world.clock,
    inspect: inspectAll(processed.inspect, observer.inspect, coverage.inspect),
  })
  const where = describeEvents(path)
  // what the shard must have done, kept by hand from the events sent
  const expected = new Set<string>()
  const released = new Map<string, AnyActorRef>()
  shard.start()
  try {
    for (const [i, raw] of path.entries()) {
      const any = raw as PeersEvent
      if (any.type === 'peers.broadcast') {
        const at = `step ${i + 1} (peers.broadcast) of ${where}`
        const before = new Map(PEERS.map((p) => [p, observer.received(id(p)).length]))
        await processed.after(shard, any.type, () => shard.send(any))
        outcomes.add('broadcast to the live actors')
        for (const p of PEERS) {
          const got = observer.received(id(p)).slice(before.get(p))
          expect(got, `${at}: events ${p} received`).toEqual(expected.has(p) ? [any.event.type] : [])
        }
        continue
      }
      const event = any
      const at = `step ${i + 1} (${event.type} ${event.peerId}) of ${where}`
      const peerId = event.peerId
      const before = observer.received(id(peerId)).length
      const createdBefore = observer.created(id(peerId))
      const refBefore = shard.system.get(id(peerId)) as AnyActorRef | undefined
      const wasLive = expected.has(peerId)
      await processed.after(shard, event.type, () => shard.send(event))

      if (event.type === 'peers.route') {
        if (event.spawn) expected.add(peerId)
        outcomes.add(wasLive ? 'routed to a live actor' : event.spawn ? 'spawned' : 'dropped (no actor, no spawn)')
        const got = observer.received(id(peerId)).slice(before)
        const delivered = expected.has(peerId) && event.event !== undefined
        expect(got, `${at}: events the peer's actor received`).toEqual(delivered ? [event.event?.type] : [])
        // one actor per peer: a route to a live one never spawns another
        expect(observer.created(id(peerId)) - createdBefore, `${at}: actors created`).toBe(wasLive || !event.spawn ? 0 : 1)
      } else {
        outcomes.add(wasLive ? 'released a live actor' : 'released an unknown peer')
        if (refBefore) released.set(peerId, refBefore)
        expected.delete(peerId)
      }

      for (const p of PEERS) {
        const ref = shard.system.get(id(p)) as AnyActorRef | undefined
        if (expected.has(p)) {
          if (!ref) throw new Error(`${at}: no actor for ${p}`)
          expect(ref.getSnapshot().status, `${at}: status of ${p}`).toBe('active')
          expect((ref.getSnapshot().context as PeerContext).peerId, `${at}: input of ${p}`).toBe(p)
        } else {
          expect(ref, `${at}: no actor for ${p}`).toBeUndefined()
          const old = released.get(p)
          if (old) expect(old.getSnapshot().status, `${at}: the released actor of ${p}`).toBe('stopped')
          // a released peer's dial is aborted with it
          expect(world.dialsTo(p).length, `${at}: dials to ${p} with no actor`).toBe(0)
        }
      }
      expect(peersPublicContext(shard.getSnapshot().context).count, `${at}: count`).toBe(expected.size)
    }
  } finally {
    shard.stop()
  }
}

describe('peers shard machine, model-based against a fake world', () => {
  const paths = generatePaths(spec)

  it(`a real shard spawns, routes to and releases real peer actors along ${paths.length} generated paths`, async () => {
    for (const path of paths) await drive(path)
  })

  it('the paths took every transition and reached every state, and every kind of route and release happened', () => {
    const never = { states: coverage.missingStates(), transitions: coverage.missingTransitions() }
    expect(never, 'states never reached and transitions never taken by the real actors').toEqual({ states: [], transitions: [] })
    const all: Outcome[] = [
      'broadcast to the live actors',
      'spawned',
      'routed to a live actor',
      'dropped (no actor, no spawn)',
      'released a live actor',
      'released an unknown peer',
    ]
    expect(
      all.filter((o) => !outcomes.has(o)),
      'outcomes never seen',
    ).toEqual([])
  })
})
