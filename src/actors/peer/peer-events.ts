import type { Connection, PeerId } from '@libp2p/interface'
import { fromCallback } from 'xstate'
import { actorLookup } from '../../machines/actor-refs.ts'
import type { NodeEvent, NodeInput } from '../../machines/node/node.types.ts'
import { peerStatusOfTags } from '../../machines/peer/peer.machine.ts'
import type { PeerEvent, PeerInput } from '../../machines/peer/peer.types.ts'
import { dialOrder } from '../../p2p/address-book/dial-order.ts'
import type { KnownPeer } from '../../p2p/known-peers.ts'
import { StaleConnectionCheck } from '../../p2p/stale-connections.ts'
import type { NodeRuntimes } from '../node/node-runtimes.ts'
import { bestConnectionType } from './connection-type.ts'
import { HEAL_PROBE_DEFAULTS, HealProbe } from './heal-probe.ts'
import { PeerRoutes } from './peer-route.ts'

export function knownPeerInput(alias: string, backoff: NodeInput['backoff'], p: KnownPeer): PeerInput {
  return {
    alias,
    peerId: p.peerId,
    name: p.name,
    known: true,
    autoConnect: p.autoConnect,
    addedAt: p.addedAt,
    ...(p.ticket !== undefined ? { ticket: p.ticket } : {}),
    ...(p.lastSyncAt !== null ? { lastSyncAt: p.lastSyncAt } : {}),
    backoff,
  }
}

/**
 * The one place where libp2p's peer and connection events become peer-actor events. Known peers
 * get their actors at start (and, with autoConnect, dial at once); a peer that is neither known nor
 * added loses its actor when it disconnects, so memory stays bounded under churn.
 */
export function watchPeersActor(runtimes: NodeRuntimes) {
  return fromCallback<NodeEvent, { alias: string; backoff: NodeInput['backoff'] }>(({ input, sendBack, system }) => {
    const { alias, backoff } = input
    const runtime = runtimes.get(alias)
    const libp2p = runtimes.handle(alias).libp2p
    const { activity, addressBook } = runtimes.shared
    // straight to a running peer actor, else through the node and its shard (peer-route.ts); the
    // refs it finds are kept for this watch, which lives as long as the node
    const routes = new PeerRoutes(system, alias, sendBack)
    const route = (peerId: string, event: PeerEvent | undefined, spawn: boolean) => routes.route({ alias, peerId, backoff }, event, spawn)

    for (const p of runtime?.knownPeers.list() ?? []) {
      sendBack({ type: 'peers.route', peerId: p.peerId, spawn: true, input: knownPeerInput(alias, backoff, p) })
    }

    // when an unreachable peer connects again, whoever dialled, the network that kept it away is
    // likely back (a partition healed): the node's other peers in backoff retry now rather than at
    // the end of their capped delay (30 s by default), at most once a second; of a pair that both
    // heard it, the end with the higher peer id lets the other dial (peer.machine.ts, yielding)
    const localPeerId = libp2p.peerId.toString()
    let lastNetworkBack = Number.NEGATIVE_INFINITY
    const wasUnreachable = (id: string) => {
      const snapshot = routes.peer(id)?.getSnapshot()
      return (
        snapshot !== undefined &&
        snapshot.context.failures > 0 &&
        !snapshot.hasTag('status:connected') &&
        !snapshot.hasTag('status:syncing')
      )
    }
    const probe = new HealProbe(
      {
        dial: (addr, opts) => libp2p.dial(addr, opts),
        addresses: (id) => dialOrder(addressBook.forPeer(id)).map((e) => e.multiaddr),
        reached: (addr, id) => addressBook.markSuccess(addr, id),
        status: (id) => {
          const snapshot = actorLookup(system).peer(alias, id)?.getSnapshot()
          return snapshot === undefined ? undefined : peerStatusOfTags(snapshot.tags)
        },
        now: Date.now,
      },
      { ...HEAL_PROBE_DEFAULTS, timeoutMs: runtimes.shared.dialTimeoutMs },
    )
    const onConnect = (e: CustomEvent<PeerId>) => {
      const id = e.detail.toString()
      const networkBack = wasUnreachable(id) && Date.now() - lastNetworkBack >= 1_000
      route(id, { type: 'peer.connected', connectionType: bestConnectionType(libp2p.getConnections(e.detail)), at: Date.now() }, true)
      // after the route: the peer that came back is connected by then, not sent retrying
      if (networkBack) {
        lastNetworkBack = Date.now()
        sendBack({ type: 'peers.broadcast', event: { type: 'peer.networkBack', localPeerId } })
      }
      activity.add({ type: 'peer_joined', alias, peerId: id, message: `connected to ${id}` })
    }
    const onDisconnect = (e: CustomEvent<PeerId>) => {
      const id = e.detail.toString()
      route(id, { type: 'peer.disconnected', at: Date.now() }, false)
      probe.lost(id)
      // libp2p announces the disconnect while it handles the last connection's close, before our
      // connection:close listener has seen that connection: the feed's line waits for it
      queueMicrotask(() => {
        const last = lastClosed.get(id)
        lastClosed.delete(id)
        const how = last
          ? ` (${last.direction} connection ${last.direction === 'inbound' ? 'from' : 'to'} ${last.addr}, open ${Date.now() - last.openedAt} ms)`
          : ''
        activity.add({ type: 'peer_left', alias, peerId: id, message: `disconnected from ${id}${how}` })
      })
      const ctx = routes.peer(id)?.getSnapshot().context
      // a client's connect sent meanwhile (even during a hang-up) keeps the actor: it will dial
      if (ctx && !ctx.known && !ctx.added && ctx.triesLeft === 0) routes.release(id)
    }
    // the connection whose close ended a peer's last (the last to close; one entry per peer, dropped
    // when the peer's disconnect is reported): its direction, address and age tell a refused or aborted
    // connection from a dropped one
    const lastClosed = new Map<string, { direction: string; addr: string; openedAt: number }>()
    const onConnectionClose = (e: CustomEvent<Connection>) => {
      const c = e.detail
      lastClosed.set(c.remotePeer.toString(), { direction: c.direction, addr: c.remoteAddr.toString(), openedAt: c.timeline.open })
      onConnectionChange(e)
    }
    // a peer that connects again while we hold an older connection may have restarted (stale-connections.ts)
    const staleCheck = new StaleConnectionCheck({
      connections: (peer) => libp2p.getConnections(peer),
      timeoutMs: runtimes.shared.dialTimeoutMs,
      now: Date.now,
      onStale: (s) =>
        activity.add({
          type: 'info',
          alias,
          peerId: s.peerId,
          message: `closed a stale ${s.direction} connection ${s.direction === 'inbound' ? 'from' : 'to'} ${s.addr} (open ${s.openMs} ms): ${s.reason}`,
        }),
    })
    const onConnectionOpen = (e: CustomEvent<Connection>) => {
      void staleCheck.opened(e.detail)
      onConnectionChange(e)
    }
    const onConnectionChange = (e: CustomEvent<{ remotePeer: PeerId }>) => {
      const peer = e.detail.remotePeer
      const type = bestConnectionType(libp2p.getConnections(peer))
      if (type !== 'none') route(peer.toString(), { type: 'peer.connectionType', connectionType: type }, false)
    }
    const onIdentify = (e: CustomEvent<{ peerId: PeerId; listenAddrs: { toString(): string }[] }>) => {
      for (const addr of e.detail.listenAddrs) addressBook.add(addr.toString(), { peerId: e.detail.peerId.toString(), source: 'identify' })
    }

    libp2p.addEventListener('peer:connect', onConnect)
    libp2p.addEventListener('peer:disconnect', onDisconnect)
    libp2p.addEventListener('connection:open', onConnectionOpen as never)
    libp2p.addEventListener('connection:close', onConnectionClose as never)
    libp2p.addEventListener('peer:identify', onIdentify as never)
    // libp2p runs (bootstrap, mDNS, inbound dials) before this watch starts: on a loaded machine a
    // connection can open in between, and its peer:connect went to nobody (the peer stayed unlisted
    // while connected). Those peers are routed here, as connected.
    const open = new Map<string, Connection[]>()
    for (const c of libp2p.getConnections()) open.set(c.remotePeer.toString(), [...(open.get(c.remotePeer.toString()) ?? []), c])
    for (const [id, conns] of open) route(id, { type: 'peer.connected', connectionType: bestConnectionType(conns), at: Date.now() }, true)
    return () => {
      probe.stop()
      libp2p.removeEventListener('peer:connect', onConnect)
      libp2p.removeEventListener('peer:disconnect', onDisconnect)
      libp2p.removeEventListener('connection:open', onConnectionOpen as never)
      libp2p.removeEventListener('connection:close', onConnectionClose as never)
      libp2p.removeEventListener('peer:identify', onIdentify as never)
    }
  })
}
