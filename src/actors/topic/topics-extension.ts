import { waitFor } from 'xstate'
import { OperationFailedError } from '../../errors.ts'
import { actorLookup, type NodeRef, type TopicRef } from '../../machines/actor-refs.ts'
import type { TopicEmitted } from '../../machines/topic/topic.types.ts'
import type { NodeExtension, NodeRuntime, NodeRuntimes } from '../node/node-runtimes.ts'

/** Whoever receives a topic's pushes: one WebSocket connection. */
export interface TopicListener {
  push(method: string, params: unknown): void
}

export class TopicJoinError extends OperationFailedError {
  override name = 'TopicJoinError'
}

export interface TopicSettings {
  meshTimeoutMs: number
  reprovideMs: number
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * A node's topics as its connections see them: which connection listens to which topic, message
 * delivery as topicData, and the topic actors' peerChange events as pushes. The topic actors hold
 * the state; this holds only who to tell.
 */
export class TopicsExtension implements NodeExtension {
  readonly #listeners = new Map<string, Set<TopicListener>>()
  /** Listeners told the topic's current peers, who from then on get every peerChange. */
  readonly #peerWatchers = new Map<string, Set<TopicListener>>()
  readonly #watched = new WeakSet<TopicRef>()
  readonly #onMessage: (e: CustomEvent<{ topic: string; data: Uint8Array; from?: { toString(): string }; type: string }>) => void

  constructor(
    private readonly runtime: NodeRuntime,
    private readonly runtimes: NodeRuntimes,
    private readonly node: () => NodeRef | undefined,
    private readonly settings: TopicSettings,
  ) {
    this.#onMessage = (e) => this.#deliver(e.detail)
    this.#pubsub.addEventListener('message', this.#onMessage as never)
  }

  get #pubsub() {
    return this.runtimes.handle(this.runtime.spec.alias).libp2p.services.pubsub
  }

  #actor(topic: string): TopicRef | undefined {
    const node = this.node()
    return node && actorLookup(node.system).topic(this.runtime.spec.alias, topic)
  }

  #deliver(msg: { topic: string; data: Uint8Array; from?: { toString(): string }; type: string }): void {
    const listeners = this.#listeners.get(msg.topic)
    if (!listeners || listeners.size === 0) return
    const from = msg.type === 'signed' && msg.from ? msg.from.toString() : ''
    let data: unknown
    try {
      data = JSON.parse(decoder.decode(msg.data))
    } catch {
      // p2p-webapp peers publish JSON; anything else is a peer misbehaving
      if (from) this.runtimes.services.reputation.violation(from, 'malformed-frame', 5)
      return
    }
    for (const l of listeners) l.push('topicData', { topic: msg.topic, peerid: from, data })
  }

  /** Subscribe one connection; resolves once the topic actor has joined (mesh formed or timed out). */
  async subscribe(topic: string, listener: TopicListener, signal?: AbortSignal): Promise<void> {
    const set = this.#listeners.get(topic) ?? new Set<TopicListener>()
    if (set.has(listener)) return
    this.#listeners.set(topic, set)
    set.add(listener)
    const node = this.node()
    node?.send({ type: 'topics.ensure', topic, meshTimeoutMs: this.settings.meshTimeoutMs, reprovideMs: this.settings.reprovideMs })
    const ref = this.#actor(topic)
    if (!ref) {
      set.delete(listener)
      throw new TopicJoinError(`topic ${topic}: no topic actor (is the node running?)`)
    }
    if (!this.#watched.has(ref)) {
      this.#watched.add(ref)
      ref.on('topic.peerChange', (e: TopicEmitted) => {
        for (const l of this.#peerWatchers.get(e.topic) ?? []) l.push('peerChange', { topic: e.topic, peerid: e.peerId, joined: e.joined })
      })
    }
    // a leaving actor that this subscription retained joins again, so wait through it
    const snap = await waitFor(ref, (s) => s.status !== 'active' || s.matches({ joined: 'subscribed' }), signal ? { signal } : {})
    // unsubscribed while joining: the later call wins, whether the actor got to join or left at once
    if (!set.has(listener)) return
    if (!snap.matches({ joined: 'subscribed' })) {
      set.delete(listener)
      throw new TopicJoinError(`topic ${topic}: ${snap.context.lastError ?? 'could not join'}`)
    }
    // as p2p-webapp's monitor does, peers already on the topic are announced as joined; read and
    // registered in one synchronous step so no change is pushed twice or missed
    for (const peerId of ref.getSnapshot().context.peers) listener.push('peerChange', { topic, peerid: peerId, joined: true })
    const watchers = this.#peerWatchers.get(topic) ?? new Set<TopicListener>()
    this.#peerWatchers.set(topic, watchers)
    watchers.add(listener)
  }

  /** Returns false when this connection was not subscribed to the topic. */
  unsubscribe(topic: string, listener: TopicListener): boolean {
    const set = this.#listeners.get(topic)
    if (!set?.delete(listener)) return false
    if (set.size === 0) this.#listeners.delete(topic)
    const watchers = this.#peerWatchers.get(topic)
    watchers?.delete(listener)
    if (watchers?.size === 0) this.#peerWatchers.delete(topic)
    this.node()?.send({ type: 'topics.release', topic })
    return true
  }

  isSubscribed(topic: string, listener: TopicListener): boolean {
    return this.#listeners.get(topic)?.has(listener) ?? false
  }

  async publish(topic: string, data: unknown): Promise<void> {
    await this.#pubsub.publish(topic, encoder.encode(JSON.stringify(data)))
  }

  listPeers(topic: string): string[] {
    return this.#pubsub.getSubscribers(topic).map(String)
  }

  stop(): void {
    this.runtime.handle?.libp2p.services.pubsub.removeEventListener('message', this.#onMessage as never)
    this.#listeners.clear()
    this.#peerWatchers.clear()
  }
}
