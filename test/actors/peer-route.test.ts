import { describe, expect, it } from 'vitest'
import type { AnyActorRef } from 'xstate'
import { releasePeer, routePeerEvent } from '../../src/actors/peer/peer-route.ts'
import { shardOf, systemIds } from '../../src/machines/actor-ids.ts'
import type { NodeEvent } from '../../src/machines/node/node.types.ts'
import type { PeerInput } from '../../src/machines/peer/peer.types.ts'

const ALIAS = 'r'
const PEER = '12D3KooWRoutePeer'
const input: PeerInput = { alias: ALIAS, peerId: PEER, backoff: { initialMs: 100, maxMs: 400, explicitRetryMs: 50, explicitTries: 2 } }

/** A system holding the given actors by systemId; each records what it was sent, as does the node (sendBack). */
function world(present: { peer?: boolean; shard?: boolean }) {
  const sent = { peer: [] as unknown[], shard: [] as unknown[], node: [] as NodeEvent[] }
  const refs = new Map<string, AnyActorRef>()
  if (present.peer) refs.set(systemIds.peer(ALIAS, PEER), { send: (e: unknown) => sent.peer.push(e) } as unknown as AnyActorRef)
  if (present.shard) refs.set(systemIds.peers(ALIAS, shardOf(PEER)), { send: (e: unknown) => sent.shard.push(e) } as unknown as AnyActorRef)
  return { system: { get: (id: PropertyKey) => refs.get(id as string) }, sendBack: (e: NodeEvent) => sent.node.push(e), sent }
}

describe('routePeerEvent and releasePeer', () => {
  it('an event for a running peer actor goes straight to it', () => {
    const w = world({ peer: true, shard: true })
    routePeerEvent(w.system, w.sendBack, input, { type: 'peer.disconnected', at: 1 }, false)
    expect(w.sent).toEqual({ peer: [{ type: 'peer.disconnected', at: 1 }], shard: [], node: [] })
  })

  it('without a peer actor, a route that spawns goes to its running shard, skipping the node', () => {
    const w = world({ shard: true })
    routePeerEvent(w.system, w.sendBack, input, { type: 'peer.connected', connectionType: 'direct', at: 1 }, true)
    routePeerEvent(w.system, w.sendBack, input, undefined, true)
    expect(w.sent.shard).toEqual([
      { type: 'peers.route', peerId: PEER, spawn: true, input, event: { type: 'peer.connected', connectionType: 'direct', at: 1 } },
      { type: 'peers.route', peerId: PEER, spawn: true, input },
    ])
    expect(w.sent.node).toEqual([])
  })

  it('without a peer actor, an event that may not spawn one is dropped where its shard would drop it', () => {
    const w = world({ shard: true })
    routePeerEvent(w.system, w.sendBack, input, { type: 'peer.disconnected', at: 1 }, false)
    expect(w.sent).toEqual({ peer: [], shard: [], node: [] })
  })

  it('without the shard, everything goes through the node (which spawns the shard)', () => {
    const w = world({})
    routePeerEvent(w.system, w.sendBack, input, { type: 'peer.disconnected', at: 1 }, false)
    releasePeer(w.system, w.sendBack, ALIAS, PEER)
    expect(w.sent.node).toEqual([
      { type: 'peers.route', peerId: PEER, spawn: false, input, event: { type: 'peer.disconnected', at: 1 } },
      { type: 'peers.release', peerId: PEER },
    ])
  })

  it('a release goes straight to the running shard', () => {
    const w = world({ peer: true, shard: true })
    releasePeer(w.system, w.sendBack, ALIAS, PEER)
    expect(w.sent).toEqual({ peer: [], shard: [{ type: 'peers.release', peerId: PEER }], node: [] })
  })
})
