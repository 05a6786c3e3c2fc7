import { describe, expect, it } from 'vitest'
import type { AnyActorRef } from 'xstate'
import { PeerRoutes } from '../../src/actors/peer/peer-route.ts'
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
  const actor = (to: unknown[]) =>
    ({ send: (e: unknown) => to.push(e), getSnapshot: () => ({ status: 'active' }) }) as unknown as AnyActorRef
  if (present.peer) refs.set(systemIds.peer(ALIAS, PEER), actor(sent.peer))
  if (present.shard) refs.set(systemIds.peers(ALIAS, shardOf(PEER)), actor(sent.shard))
  const system = { get: (id: PropertyKey) => refs.get(id as string) }
  const sendBack = (e: NodeEvent) => sent.node.push(e)
  return { routes: new PeerRoutes(system, ALIAS, sendBack), sent }
}

describe('PeerRoutes: where an event goes', () => {
  const systemId = systemIds.peer(ALIAS, PEER)
  it('an event for a running peer actor goes straight to it', () => {
    const w = world({ peer: true, shard: true })
    w.routes.route(input, { type: 'peer.disconnected', at: 1 }, false)
    expect(w.sent).toEqual({ peer: [{ type: 'peer.disconnected', at: 1 }], shard: [], node: [] })
  })

  it('without a peer actor, a route that spawns goes to its running shard, skipping the node', () => {
    const w = world({ shard: true })
    w.routes.route(input, { type: 'peer.connected', connectionType: 'direct', at: 1 }, true)
    w.routes.route(input, undefined, true)
    expect(w.sent.shard).toEqual([
      {
        type: 'peers.route',
        peerId: PEER,
        spawn: true,
        input,
        systemId,
        event: { type: 'peer.connected', connectionType: 'direct', at: 1 },
      },
      { type: 'peers.route', peerId: PEER, spawn: true, input, systemId },
    ])
    expect(w.sent.node).toEqual([])
  })

  it('without a peer actor, an event that may not spawn one is dropped where its shard would drop it', () => {
    const w = world({ shard: true })
    w.routes.route(input, { type: 'peer.disconnected', at: 1 }, false)
    expect(w.sent).toEqual({ peer: [], shard: [], node: [] })
  })

  it('without the shard, everything goes through the node (which spawns the shard)', () => {
    const w = world({})
    w.routes.route(input, { type: 'peer.disconnected', at: 1 }, false)
    w.routes.release(PEER)
    expect(w.sent.node).toEqual([
      { type: 'peers.route', peerId: PEER, spawn: false, input, systemId, event: { type: 'peer.disconnected', at: 1 } },
      { type: 'peers.release', peerId: PEER },
    ])
  })

  it('a release goes straight to the running shard', () => {
    const w = world({ peer: true, shard: true })
    w.routes.release(PEER)
    expect(w.sent).toEqual({ peer: [], shard: [{ type: 'peers.release', peerId: PEER }], node: [] })
  })
})

/** A system whose actors can be stopped and replaced, counting its lookups. */
function liveWorld() {
  const sent: { to: string; event: unknown }[] = []
  const node: NodeEvent[] = []
  const refs = new Map<string, AnyActorRef>()
  let lookups = 0
  const actor = (name: string) => {
    let status = 'active'
    const ref = { send: (event: unknown) => sent.push({ to: name, event }), getSnapshot: () => ({ status }) } as unknown as AnyActorRef
    return { ref, stop: () => (status = 'stopped') }
  }
  const system = {
    get: (id: PropertyKey) => {
      lookups += 1
      return refs.get(id as string)
    },
  }
  return { system, refs, actor, sent, node, sendBack: (e: NodeEvent) => node.push(e), lookups: () => lookups }
}

describe('PeerRoutes (one node watch)', () => {
  const connected = { type: 'peer.connected', connectionType: 'direct', at: 1 } as const

  it('looks a running peer actor up once', () => {
    const w = liveWorld()
    const peer = w.actor('peer')
    w.refs.set(systemIds.peer(ALIAS, PEER), peer.ref)
    const routes = new PeerRoutes(w.system, ALIAS, w.sendBack)
    routes.route(input, connected, true)
    routes.route(input, { type: 'peer.disconnected', at: 2 }, false)
    expect(w.sent).toEqual([
      { to: 'peer', event: connected },
      { to: 'peer', event: { type: 'peer.disconnected', at: 2 } },
    ])
    expect(w.lookups()).toBe(1)
    expect(routes.peer(PEER)).toBe(peer.ref)
  })

  it('a kept actor that stopped is not used: its replacement is looked up, or the route goes to the shard or node', () => {
    const w = liveWorld()
    const first = w.actor('first')
    w.refs.set(systemIds.peer(ALIAS, PEER), first.ref)
    const routes = new PeerRoutes(w.system, ALIAS, w.sendBack)
    routes.route(input, connected, true)
    // stopped elsewhere (forgotten through the node), a new actor under the same system id
    first.stop()
    const second = w.actor('second')
    w.refs.set(systemIds.peer(ALIAS, PEER), second.ref)
    routes.route(input, { type: 'peer.disconnected', at: 2 }, false)
    expect(w.sent.map((s) => s.to)).toEqual(['first', 'second'])
    // and gone: a route that may spawn goes through the node (no shard), one that may not is dropped
    second.stop()
    w.refs.delete(systemIds.peer(ALIAS, PEER))
    expect(routes.peer(PEER)).toBeUndefined()
    routes.route(input, connected, true)
    expect(w.node).toEqual([
      { type: 'peers.route', peerId: PEER, spawn: true, input, systemId: systemIds.peer(ALIAS, PEER), event: connected },
    ])
  })

  it('a release goes to the running shard (looked up once) and drops the kept peer actor', () => {
    const w = liveWorld()
    const peer = w.actor('peer')
    const shard = w.actor('shard')
    w.refs.set(systemIds.peer(ALIAS, PEER), peer.ref)
    w.refs.set(systemIds.peers(ALIAS, shardOf(PEER)), shard.ref)
    const routes = new PeerRoutes(w.system, ALIAS, w.sendBack)
    routes.route(input, connected, true)
    routes.release(PEER)
    routes.release(PEER)
    expect(w.sent).toEqual([
      { to: 'peer', event: connected },
      { to: 'shard', event: { type: 'peers.release', peerId: PEER } },
      { to: 'shard', event: { type: 'peers.release', peerId: PEER } },
    ])
    expect(w.lookups()).toBe(2)
    // the released peer is looked up again
    w.refs.delete(systemIds.peer(ALIAS, PEER))
    peer.stop()
    routes.route(input, undefined, true)
    expect(w.sent.at(-1)).toEqual({
      to: 'shard',
      event: { type: 'peers.route', peerId: PEER, spawn: true, input, systemId: systemIds.peer(ALIAS, PEER) },
    })
    expect(w.node).toEqual([])
  })

  it('a spawn through the running shard keeps the actor it made: the next event goes to it without another lookup', () => {
    const w = liveWorld()
    const shard = w.actor('shard')
    const peer = w.actor('peer')
    w.refs.set(systemIds.peers(ALIAS, shardOf(PEER)), shard.ref)
    // the fake shard spawns as the real one does: synchronously, under the systemId it is given
    const spawning = {
      ...shard.ref,
      send: (e: { systemId?: string }) => {
        shard.ref.send(e)
        if (e.systemId) w.refs.set(e.systemId, peer.ref)
      },
    } as unknown as AnyActorRef
    w.refs.set(systemIds.peers(ALIAS, shardOf(PEER)), spawning)
    const routes = new PeerRoutes(w.system, ALIAS, w.sendBack)
    routes.route(input, undefined, true)
    routes.route(input, connected, true)
    expect(w.sent).toEqual([
      { to: 'shard', event: { type: 'peers.route', peerId: PEER, spawn: true, input, systemId: systemIds.peer(ALIAS, PEER) } },
      { to: 'peer', event: connected },
    ])
    // the shard, then the spawned actor by the systemId it was given
    expect(w.lookups()).toBe(2)
  })
})
