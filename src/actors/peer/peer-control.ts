import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Multiaddr } from '@multiformats/multiaddr'
import { waitFor } from 'xstate'
import { ResourceNotFoundError } from '../../errors.ts'
import { parsePeerOrAddress } from '../../p2p/dial-addrs.ts'
import type { ActorLookup, NodeRef, PeerRef } from '../../machines/actor-refs.ts'
import type { ConnectionType, PeerEvent } from '../../machines/peer/peer.types.ts'
import type { ActivityLog } from '../activity-log.ts'
import { NodeNotRunningError, type NodeRuntimes } from '../node/node-runtimes.ts'
import { NO_PROTECTION_TAGS, PROTECTION_TAGS } from '../protection/protected-peers.ts'
import { dialSettled } from './peer.actors.ts'

export interface ConnectResult {
  success: boolean
  connectionType: ConnectionType
  error?: string
}

export class UnknownPeerError extends ResourceNotFoundError {
  override name = 'UnknownPeerError'
}

/** Run `fn` over `items` with at most `limit` calls in flight, keeping the input order in the output. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i] as T)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}

/**
 * What clients ask of remote peers, done through the peer actors: the actors decide, this waits
 * for the state that answers the question.
 */
export class PeerControl {
  constructor(
    private readonly runtimes: Pick<NodeRuntimes, 'get' | 'handle' | 'shared'>,
    private readonly actors: Pick<ActorLookup, 'node' | 'peer'>,
    private readonly activity: Pick<ActivityLog, 'add'>,
    /** After a forget: drop what was kept for the peer (its replica). */
    private readonly forgotten: (alias: string, peerId: string) => Promise<void> = async () => {},
  ) {}

  #node(alias: string): NodeRef {
    const node = this.actors.node(alias)
    if (node?.getSnapshot().value !== 'running') throw new NodeNotRunningError(alias)
    return node
  }

  ref(alias: string, peerId: string): PeerRef | undefined {
    return this.actors.peer(alias, peerId)
  }

  /**
   * A peer our pruner must never close: added (addpeers), known (paired), or holding a reservation on
   * our relay. Read from the peer actor, the known-peers store and the relay, so protection cannot
   * drift from what clients see.
   */
  isProtected(alias: string, peerId: string): boolean {
    const runtime = this.runtimes.get(alias)
    if (runtime?.knownPeers.has(peerId)) return true
    // a peer reachable only through our relay loses its address if we close it
    if (runtime?.handle?.libp2p.services.relay?.reservations.has(peerIdFromString(peerId))) return true
    const ctx = this.ref(alias, peerId)?.getSnapshot().context
    return ctx?.added === true || ctx?.known === true
  }

  isAdded(alias: string, peerId: string): boolean {
    return this.ref(alias, peerId)?.getSnapshot().context.added === true
  }

  /**
   * Addresses a user gave for a peer (`peers.connect {addrs}`, `addpeers` multiaddrs): into the
   * address book as `manual` and into libp2p's peer store, so the peer actor's dial finds them.
   * The book keeps its scope policy (with `allowLoopbackAddresses: false` it refuses loopback and
   * private addresses, manual ones too); the peer store takes every address, so the dial the user
   * asked for still tries it.
   */
  async learnAddresses(alias: string, peerId: string, addrs: Multiaddr[], source: 'manual' | 'pairing' = 'manual'): Promise<void> {
    if (addrs.length === 0) return
    const { addressBook } = this.runtimes.shared
    for (const addr of addrs) {
      const result = addressBook.add(addr.toString(), { peerId, source })
      if (!result.added && result.reason !== 'exists')
        this.activity.add({
          type: 'info',
          alias,
          peerId,
          message: `address book: not keeping ${addr} for ${peerId} (${result.reason}); dialled through the peer store only`,
        })
    }
    await this.runtimes.handle(alias).libp2p.peerStore.merge(peerIdFromString(peerId), { multiaddrs: addrs })
  }

  /**
   * addpeers: each valid peer (an id, or a full multiaddr ending in /p2p/<id>, whose address is
   * learnt as `manual`) is tagged (keep-alive and ours, value 100 each), protected from our pruner,
   * and handed to its peer actor as added: dialled at once and retried with capped, jittered
   * backoff for as long as it stays added.
   */
  async addPeers(alias: string, values: string[]): Promise<void> {
    const libp2p = this.runtimes.handle(alias).libp2p
    for (const [id, addrs] of this.#validPeers(alias, 'addpeers', values)) {
      const text = id.toString()
      await this.learnAddresses(alias, text, addrs).catch((err: Error) => {
        this.activity.add({ type: 'error', alias, peerId: text, message: `addpeers: cannot record addresses of ${text}: ${err.message}` })
      })
      await libp2p.peerStore.merge(id, { tags: PROTECTION_TAGS }).catch((err: Error) => {
        this.activity.add({ type: 'error', alias, peerId: text, message: `addpeers: cannot tag ${text}: ${err.message}` })
      })
      this.route(alias, text, { type: 'peer.setAdded', added: true }, true)
      this.activity.add({ type: 'info', alias, peerId: text, message: `added ${text}: protected and kept connected` })
    }
  }

  /** removepeers: protection and tags lifted; an open connection stays open. */
  async removePeers(alias: string, values: string[]): Promise<void> {
    const libp2p = this.runtimes.handle(alias).libp2p
    for (const id of this.#validPeers(alias, 'removepeers', values).keys()) {
      const text = id.toString()
      if (this.ref(alias, text)) this.route(alias, text, { type: 'peer.setAdded', added: false }, false)
      if (await libp2p.peerStore.has(id)) {
        await libp2p.peerStore.merge(id, { tags: NO_PROTECTION_TAGS }).catch((err: Error) => {
          this.activity.add({ type: 'error', alias, peerId: text, message: `removepeers: cannot untag ${text}: ${err.message}` })
        })
      }
    }
  }

  /**
   * The valid, distinct remote peers of a client's list (ids, or multiaddrs ending in /p2p/<id>),
   * each with the addresses given for it; every other entry is skipped and reported in the
   * activity feed (p2p-webapp ignores them silently; we say so).
   */
  #validPeers(alias: string, method: string, values: string[]): Map<PeerId, Multiaddr[]> {
    const self = this.runtimes.handle(alias).libp2p.peerId.toString()
    const seen = new Map<string, Multiaddr[]>()
    const out = new Map<PeerId, Multiaddr[]>()
    for (const [i, value] of values.entries()) {
      let id: PeerId
      let addr: Multiaddr | undefined
      try {
        const parsed = parsePeerOrAddress(value, `peerIds.${i}`)
        id = peerIdFromString(parsed.peerId)
        addr = parsed.addr
      } catch (err) {
        const reason = value.startsWith('/')
          ? (err as Error).message
          : `peerIds.${i}: ${JSON.stringify(value.slice(0, 100))} is not a valid peer id`
        this.activity.add({ type: 'error', alias, message: `${method}: skipped ${reason}` })
        continue
      }
      const text = id.toString()
      if (text === self) {
        this.activity.add({
          type: 'error',
          alias,
          peerId: text,
          message: `${method}: skipped peerIds.${i}: ${text} is this local peer itself`,
        })
        continue
      }
      const addrs = seen.get(text)
      if (addrs !== undefined) {
        if (addr !== undefined) addrs.push(addr)
        continue
      }
      const list = addr === undefined ? [] : [addr]
      seen.set(text, list)
      out.set(id, list)
    }
    return out
  }

  /** Deliver `event` to the peer's actor, creating the actor if `spawn`. */
  route(alias: string, peerId: string, event: PeerEvent | undefined, spawn: boolean): PeerRef | undefined {
    const node = this.#node(alias)
    const backoff = node.getSnapshot().context.backoff
    node.send({ type: 'peers.route', peerId, spawn, input: { alias, peerId, backoff }, ...(event ? { event } : {}) })
    return this.ref(alias, peerId)
  }

  async connect(alias: string, peerId: string, signal?: AbortSignal): Promise<ConnectResult> {
    const ref = this.route(alias, peerId, { type: 'peer.connect' }, true)
    if (!ref) throw new UnknownPeerError(`no actor for peer ${peerId}`)
    await waitFor(
      ref,
      (s) => s.status !== 'active' || s.matches('connected') || s.matches('failed') || s.matches('backoff') || s.matches('disconnected'),
      signal ? { signal } : {},
    )
    // libp2p reports the connection before the dial settles, and a peer that refuses us closes it
    // only then: the answer is the dial's outcome together with the state after it
    const dialError = await dialSettled(this.runtimes.get(alias), peerId)
    const snap = ref.getSnapshot()
    const ctx = snap.context
    const connected = snap.matches('connected') && dialError === undefined
    const refused = connected ? await this.#refused(alias, peerId, signal) : undefined
    if (connected && refused === undefined) return { success: true, connectionType: ctx.connectionType }
    return {
      success: false,
      connectionType: 'none',
      error: dialError?.message ?? refused?.message ?? ctx.lastError ?? `peer is ${JSON.stringify(snap.value)}`,
    }
  }

  /**
   * Why the peer's connections do not count, if they do not: a connection someone else opened (the
   * DHT, a probe, the remote) makes the actor connected at once, and a remote that refuses us closes
   * it only after the handshake. So the answer waits for the remote to confirm one (confirmations).
   */
  #refused(alias: string, peerId: string, signal?: AbortSignal): Promise<Error | undefined> {
    const libp2p = this.runtimes.handle(alias).libp2p
    const deadline = AbortSignal.timeout(this.runtimes.shared.dialTimeoutMs)
    return libp2p.services.confirmations
      .confirmAny(libp2p.getConnections(peerIdFromString(peerId)), signal ? AbortSignal.any([signal, deadline]) : deadline)
      .then(
        () => undefined,
        (err: Error) => err,
      )
  }

  async connectMany(alias: string, peerIds: string[], concurrency: number, signal?: AbortSignal): Promise<Record<string, ConnectResult>> {
    const unique = [...new Set(peerIds)]
    const results = await mapLimit(unique, concurrency, (id) => this.connect(alias, id, signal))
    return Object.fromEntries(unique.map((id, i) => [id, results[i] as ConnectResult]))
  }

  async disconnect(alias: string, peerId: string): Promise<void> {
    const ref = this.ref(alias, peerId)
    if (!ref) throw new UnknownPeerError(`unknown peer ${peerId}`)
    ref.send({ type: 'peer.disconnect' })
    // a peer that is neither known nor added loses its actor once disconnected: that is done too
    await waitFor(ref, (s) => s.status !== 'active' || !s.matches('disconnecting')).catch(() => undefined)
  }

  /** Rename, change autoConnect, or remember/forget; resolves once the known-peers file holds the change. */
  async update(
    alias: string,
    peerId: string,
    changes: { name?: string; autoConnect?: boolean; known?: boolean; ticket?: string },
  ): Promise<PeerRef> {
    const exists = this.ref(alias, peerId) !== undefined
    if (!exists && changes.known !== true) throw new UnknownPeerError(`unknown peer ${peerId}; pass known: true to remember it`)
    const ref = this.route(alias, peerId, { type: 'peer.update', ...changes, at: Date.now() }, true)
    if (!ref) throw new UnknownPeerError(`unknown peer ${peerId}`)
    // the peer actor writes the change (or the removal) to the known-peers file as it takes the event
    await this.runtimes.get(alias)?.knownPeers.flush()
    return ref
  }

  /** Forget a peer: off the disk, its actor stopped (aborting a dial or sync), its connections closed. */
  async forget(alias: string, peerId: string): Promise<void> {
    const runtime = this.runtimes.get(alias)
    const ref = this.ref(alias, peerId)
    if (!ref && !runtime?.knownPeers.has(peerId)) throw new UnknownPeerError(`unknown peer ${peerId}`)
    await runtime?.knownPeers.remove(peerId)
    this.#node(alias).send({ type: 'peers.release', peerId })
    const libp2p = runtime?.handle?.libp2p
    const id = peerIdFromString(peerId)
    // without its tags libp2p stops redialling it (keep-alive) and our pruner may close it like any other
    await libp2p?.peerStore.merge(id, { tags: NO_PROTECTION_TAGS }).catch(() => {})
    await libp2p?.hangUp(id).catch(() => {})
    // the actor is stopped, so a sync it ran is aborted: what it kept can go
    await this.forgotten(alias, peerId)
  }

  knownAutoConnect(alias: string): string[] {
    return (this.runtimes.get(alias)?.knownPeers.list() ?? []).filter((p) => p.autoConnect).map((p) => p.peerId)
  }
}
