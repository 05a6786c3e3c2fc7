import { describe, expect, it } from 'vitest'
import { Actor, type AnyActorRef, assign, createActor, setup } from 'xstate'
import { systemIds } from '../../src/machines/actor-ids.ts'
import type { PeerEvent, PeerInput } from '../../src/machines/peer/peer.types.ts'
import { peersMachine, peersPublicContext } from '../../src/machines/peers/peers.machine.ts'

// What a shard promises its node (found by npm run mutate): one actor per peer, under its system id, fed
// every routed event; a route without spawn never creates one; release stops exactly that peer's actor.

/** A stand-in peer actor that only remembers its input and what it was sent. */
const recorder = setup({
  types: { context: {} as { input: PeerInput; got: string[] }, input: {} as PeerInput, events: {} as PeerEvent },
}).createMachine({
  context: ({ input }) => ({ input, got: [] }),
  on: { '*': { actions: assign({ got: ({ context, event }) => [...context.got, event.type] }) } },
})

const ALIAS = 'm'
const input = (peerId: string): PeerInput => ({
  alias: ALIAS,
  peerId,
  backoff: { initialMs: 100, maxMs: 400, explicitRetryMs: 50, explicitTries: 2 },
})

function shard() {
  const actor = createActor(peersMachine.provide({ actors: { peer: recorder as never } }), { input: { alias: ALIAS, shard: 3 } })
  actor.start()
  const route = (peerId: string, spawn: boolean, event?: PeerEvent) =>
    actor.send({ type: 'peers.route', peerId, spawn, input: input(peerId), ...(event ? { event } : {}) })
  const peer = (peerId: string) => actor.system.get(systemIds.peer(ALIAS, peerId)) as AnyActorRef | undefined
  const got = (peerId: string) => (peer(peerId)?.getSnapshot().context as { got: string[] } | undefined)?.got
  return { actor, route, peer, got, release: (peerId: string) => actor.send({ type: 'peers.release', peerId }) }
}

describe('peers shard edges', () => {
  it('spawns one actor per peer from its input, registered under the peer system id, and feeds it every routed event', () => {
    const s = shard()
    s.route('p1', true, { type: 'peer.connect' })
    s.route('p1', true, { type: 'peer.update', name: 'x' })
    s.route('p1', false, { type: 'peer.disconnect' })
    expect((s.peer('p1')!.getSnapshot().context as { input: PeerInput }).input).toEqual(input('p1'))
    expect(s.got('p1')).toEqual(['peer.connect', 'peer.update', 'peer.disconnect'])
    // its only child, registered under the peer's system id (its child id is a slot number)
    const children = Object.values(s.actor.getSnapshot().children).map((c) => (c instanceof Actor ? c.systemId : c))
    expect(children).toEqual([systemIds.peer(ALIAS, 'p1')])
    expect(s.actor.getSnapshot().context.peerIds).toEqual(['p1'])
  })

  it('a route without spawn to a peer it has no actor for creates none', () => {
    const s = shard()
    s.route('p1', false, { type: 'peer.connect' })
    expect(s.peer('p1')).toBeUndefined()
    expect(peersPublicContext(s.actor.getSnapshot().context)).toEqual({ alias: ALIAS, shard: 3, count: 0 })
  })

  it('release stops that peer actor only; a later route with spawn makes a fresh one', () => {
    const s = shard()
    s.route('p1', true, { type: 'peer.connect' })
    s.route('p2', true)
    expect(peersPublicContext(s.actor.getSnapshot().context)).toEqual({ alias: ALIAS, shard: 3, count: 2 })
    s.release('p1')
    expect(s.peer('p1')).toBeUndefined()
    expect(s.peer('p2')).toBeDefined()
    expect(s.actor.getSnapshot().context.peerIds).toEqual(['p2'])
    s.release('p9')
    expect(s.actor.getSnapshot().context.peerIds).toEqual(['p2'])
    s.route('p1', true)
    expect(s.got('p1')).toEqual([])
    expect(peersPublicContext(s.actor.getSnapshot().context)).toEqual({ alias: ALIAS, shard: 3, count: 2 })
  })
})
