import type { PeerId } from '@libp2p/interface'
import type { NodeRef } from '../../machines/actor-refs.ts'
import { SYNC_PROTOCOL } from '../sync/sync-protocol.ts'
import type { NodeComponents, NodeService } from '../node/node-runtimes.ts'
import { RESERVED_TOPIC_PREFIX, type TopicSettings } from './topics-extension.ts'

/**
 * `off`: peer-a relays gossip only on topics it is subscribed to for its clients. `all`: it joins
 * every topic a connected peer (other than a Switchboard daemon) subscribes to, up to `maxTopics`,
 * and leaves when the last such peer has gone. A list: exactly those topics, for as long as it runs.
 */
export type GossipHubMode = 'off' | 'all' | string[]

export interface GossipHubDeps extends TopicSettings {
  mode: GossipHubMode
  /** Most topics held at once under `all`; further topics wait for a free place. */
  maxTopics: number
  nodeRef: (alias: string) => NodeRef | undefined
  log: (msg: string) => void
}

const TOPIC_MAX_BYTES = 1024

/** Whether `topic` is one the hub may serve: a client topic name (1 byte to 1 KiB, not reserved). */
export function hubTopic(topic: string): boolean {
  return topic.length > 0 && Buffer.byteLength(topic) <= TOPIC_MAX_BYTES && !topic.startsWith(RESERVED_TOPIC_PREFIX)
}

/** The node service factory: the persistent node (peer-a) is the hub; session peers never are. */
export const gossipHubService =
  (deps: GossipHubDeps) =>
  ({ alias, libp2p, storageDir }: Pick<NodeComponents, 'alias' | 'libp2p' | 'storageDir'>) =>
    new GossipHub(alias, storageDir === undefined ? 'off' : deps.mode, libp2p, deps)

type SubscriptionChange = CustomEvent<{ peerId: PeerId; subscriptions: Array<{ topic: string; subscribe: boolean }> }>

/**
 * peer-a as a GossipSub hub for peers that only know the daemon (browsers): it subscribes to their
 * topics, so GossipSub meshes them through it and forwards their messages, with no WebSocket client
 * subscribed. A hub subscription is a reference on the topic actor (`topic:<alias>:<topic>`), held
 * and released through the node actor as a client's subscription is.
 *
 * Peers that speak /switchboard/sync are daemons with hubs of their own: their subscriptions do not
 * count, or two hubs would hold each other's topics forever.
 */
export class GossipHub implements NodeService {
  /** Topics the hub wants held: the list, or under `all` those with a subscriber, at most maxTopics. */
  readonly #held = new Set<string>()
  /** Topics whose reference the node actor has (ensure sent, release not yet). */
  readonly #sent = new Set<string>()
  /** Under `all`: the subscribing peers that count, per topic (held topics and those waiting for a place). */
  readonly #subscribers = new Map<string, Set<string>>()
  /** Peers seen to speak /switchboard/sync. */
  readonly #daemons = new Set<string>()
  readonly #disposers: Array<() => void> = []
  #waitingForNode: { unsubscribe(): void } | undefined
  #stopped = false

  constructor(
    private readonly alias: string,
    readonly mode: GossipHubMode,
    libp2p: NodeComponents['libp2p'],
    private readonly deps: GossipHubDeps,
  ) {
    if (mode === 'off') return
    if (mode !== 'all') {
      for (const topic of mode) if (hubTopic(topic)) this.#held.add(topic)
      this.#flush()
      return
    }
    const pubsub = libp2p.services.pubsub
    const onChange = (e: SubscriptionChange) => {
      const peer = e.detail.peerId.toString()
      if (this.#daemons.has(peer)) return
      for (const s of e.detail.subscriptions) {
        if (!hubTopic(s.topic)) continue
        if (s.subscribe) this.#join(peer, s.topic)
        else this.#leave(peer, s.topic)
      }
      this.#flush()
    }
    // GossipSub drops a disconnected peer from its topics without a subscription event
    const onDisconnect = (e: CustomEvent<PeerId>) => {
      const peer = e.detail.toString()
      this.#daemons.delete(peer)
      this.#forget(peer)
    }
    const onProtocols = (peer: PeerId, protocols: readonly string[]) => {
      const id = peer.toString()
      if (!protocols.includes(SYNC_PROTOCOL) || this.#daemons.has(id)) return
      this.#daemons.add(id)
      // subscriptions that arrived before its identify told us what it is
      this.#forget(id)
    }
    const onIdentify = (e: CustomEvent<{ peerId: PeerId; protocols: string[] }>) => onProtocols(e.detail.peerId, e.detail.protocols)
    const onUpdate = (e: CustomEvent<{ peer: { id: PeerId; protocols: string[] } }>) =>
      onProtocols(e.detail.peer.id, e.detail.peer.protocols)
    pubsub.addEventListener('subscription-change', onChange as never)
    libp2p.addEventListener('peer:disconnect', onDisconnect)
    libp2p.addEventListener('peer:identify', onIdentify as never)
    libp2p.addEventListener('peer:update', onUpdate as never)
    this.#disposers.push(() => {
      pubsub.removeEventListener('subscription-change', onChange as never)
      libp2p.removeEventListener('peer:disconnect', onDisconnect)
      libp2p.removeEventListener('peer:identify', onIdentify as never)
      libp2p.removeEventListener('peer:update', onUpdate as never)
    })
  }

  /** The topics the hub holds now (for node.info and tests). */
  topics(): string[] {
    return [...this.#held]
  }

  #join(peer: string, topic: string): void {
    let set = this.#subscribers.get(topic)
    if (!set) {
      // topics waiting for a place are bounded too: a peer cannot make us remember a million names
      if (this.#subscribers.size >= this.deps.maxTopics * 4) return
      set = new Set()
      this.#subscribers.set(topic, set)
    }
    set.add(peer)
    if (this.#held.has(topic)) return
    if (this.#held.size < this.deps.maxTopics) this.#held.add(topic)
    else if (set.size === 1)
      this.deps.log(
        `gossip hub ${this.alias}: ${this.deps.maxTopics} topics held (gossipHubMaxTopics); ${JSON.stringify(topic.slice(0, 100))} waits for a place`,
      )
  }

  #leave(peer: string, topic: string): void {
    const set = this.#subscribers.get(topic)
    if (!set?.delete(peer) || set.size > 0) return
    this.#subscribers.delete(topic)
    if (!this.#held.delete(topic)) return
    // a place came free: the longest-waiting topic that still has subscribers takes it
    for (const waiting of this.#subscribers.keys()) {
      if (this.#held.size >= this.deps.maxTopics) break
      this.#held.add(waiting)
    }
  }

  #forget(peer: string): void {
    for (const topic of [...this.#subscribers.keys()]) this.#leave(peer, topic)
    this.#flush()
  }

  /** Bring the node actor's references in line with #held; while the node is still starting, once it runs. */
  #flush(): void {
    if (this.#stopped) return
    const node = this.deps.nodeRef(this.alias)
    if (!node) return
    if (node.getSnapshot().value !== 'running') {
      this.#waitingForNode ??= node.subscribe((s) => {
        if (s.value !== 'running') return
        this.#waitingForNode?.unsubscribe()
        this.#waitingForNode = undefined
        queueMicrotask(() => this.#flush())
      })
      return
    }
    for (const topic of this.#held) {
      if (this.#sent.has(topic)) continue
      this.#sent.add(topic)
      node.send({ type: 'topics.ensure', topic, meshTimeoutMs: this.deps.meshTimeoutMs, reprovideMs: this.deps.reprovideMs })
    }
    for (const topic of this.#sent) {
      if (this.#held.has(topic)) continue
      this.#sent.delete(topic)
      node.send({ type: 'topics.release', topic })
    }
  }

  stop(): void {
    this.#stopped = true
    this.#waitingForNode?.unsubscribe()
    this.#waitingForNode = undefined
    for (const dispose of this.#disposers.splice(0)) dispose()
    // the node is stopping: its topic actors stop with it, so there is nothing to release
    this.#held.clear()
    this.#sent.clear()
    this.#subscribers.clear()
  }
}
