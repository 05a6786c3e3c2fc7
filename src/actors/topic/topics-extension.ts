import { waitFor } from 'xstate'
import { OperationFailedError } from '../../errors.ts'
import { actorLookup, type NodeRef, type TopicRef } from '../../machines/actor-refs.ts'
import type { TopicEmitted } from '../../machines/topic/topic.types.ts'
import { decodeTopicPayload, encodeTopicPayload, type TopicEncoding } from '../../p2p/topic-payload.ts'
import { InvalidInputError } from '../../p2p/validate.ts'
import type { NodeComponents, NodeService } from '../node/node-runtimes.ts'

/** Whoever receives a topic's pushes: one WebSocket connection, which says when it closes. */
export interface TopicListener {
  push(method: string, params: unknown): void
  /** Run `fn` when the listener goes away; returns a disposer that cancels it. */
  onClose(fn: () => void): () => void
}

export class TopicJoinError extends OperationFailedError {
  override name = 'TopicJoinError'
}

export interface TopicSettings {
  meshTimeoutMs: number
  reprovideMs: number
}

/**
 * No reputation here: what a topic message carries is never an offence (stock libp2p apps publish
 * text or binary). Protocol abuse on GossipSub is GossipSub's own peer scoring's business, and the
 * daemon's reserved topics (presence) judge their own records.
 */
export interface TopicsDeps extends TopicSettings {
  /** The node actor that spawns this node's topic actors. */
  nodeRef: (alias: string) => NodeRef | undefined
}

const TOPIC_MAX_BYTES = 1024
/** Topics the daemon itself runs on (presence); clients may publish to none and subscribe to none. */
export const RESERVED_TOPIC_PREFIX = 'switchboard/'

/** A topic name from a client: 1 byte to 1 KiB of UTF-8, outside the reserved prefix. */
export function clientTopicName(topic: string): string {
  if (Buffer.byteLength(topic) > TOPIC_MAX_BYTES) throw new InvalidInputError('topic', `longer than ${TOPIC_MAX_BYTES} bytes`)
  if (topic.startsWith(RESERVED_TOPIC_PREFIX))
    throw new InvalidInputError('topic', `names starting with ${RESERVED_TOPIC_PREFIX} are reserved for the daemon`)
  return topic
}

/** A signed message's author: a PeerId that GossipSub makes anew for every message it delivers. */
export interface MessageAuthor {
  toString(): string
  toMultihash?(): { bytes: Uint8Array }
}

/** Authors remembered at most; past that the names start over (a topic rarely has this many publishers). */
const AUTHOR_NAMES_MAX = 1024

/**
 * The text of message authors' peer ids, by their multihash bytes. A PeerId keeps its text once made,
 * but GossipSub decodes a new PeerId for every message, so each `toString()` was a base58 encoding
 * of its multihash again (38 bytes for Ed25519; base58 is quadratic in them: ~5 µs and ~1.8 KB of
 * garbage per delivered message); the bytes as a latin1 key cost a short string. The same text,
 * made once per author.
 */
export class AuthorNames {
  readonly #names = new Map<string, string>()

  text(author: MessageAuthor): string {
    const bytes = author.toMultihash?.().bytes
    if (bytes === undefined) return author.toString()
    const key = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
    let name = this.#names.get(key)
    if (name === undefined) {
      name = author.toString()
      if (this.#names.size >= AUTHOR_NAMES_MAX) this.#names.clear()
      this.#names.set(key, name)
    }
    return name
  }
}

/** The node service factory: every local node gets its topics service. */
export const topicsService =
  (deps: TopicsDeps) =>
  ({ alias, libp2p }: Pick<NodeComponents, 'alias' | 'libp2p'>) =>
    new TopicsService(alias, libp2p.services.pubsub, deps)

/**
 * A node's topics as its connections see them: which connection listens to which topic, message
 * delivery as topicData, and the topic actors' peerChange events as pushes. The topic actors hold
 * the state; this holds only who to tell.
 */
export class TopicsService implements NodeService {
  readonly #listeners = new Map<string, Set<TopicListener>>()
  /** Per listener and topic, the disposer of its close-time unsubscribe. */
  readonly #closeHooks = new Map<TopicListener, Map<string, () => void>>()
  /** Listeners told the topic's current peers, who from then on get every peerChange. */
  readonly #peerWatchers = new Map<string, Set<TopicListener>>()
  readonly #watched = new WeakSet<TopicRef>()
  readonly #onMessage: (e: CustomEvent<{ topic: string; data: Uint8Array; from?: MessageAuthor; type: string }>) => void
  readonly #authors = new AuthorNames()

  constructor(
    private readonly alias: string,
    private readonly pubsub: NodeComponents['libp2p']['services']['pubsub'],
    private readonly deps: TopicsDeps,
  ) {
    this.#onMessage = (e) => this.#deliver(e.detail)
    this.pubsub.addEventListener('message', this.#onMessage as never)
  }

  #node(): NodeRef | undefined {
    return this.deps.nodeRef(this.alias)
  }

  #actor(topic: string): TopicRef | undefined {
    const node = this.#node()
    return node && actorLookup(node.system).topic(this.alias, topic)
  }

  #deliver(msg: { topic: string; data: Uint8Array; from?: MessageAuthor; type: string }): void {
    const listeners = this.#listeners.get(msg.topic)
    if (!listeners || listeners.size === 0) return
    const from = msg.type === 'signed' && msg.from ? this.#authors.text(msg.from) : ''
    // JSON as p2p-webapp delivers it; text or bytes from stock libp2p apps with their encoding
    const { data, encoding } = decodeTopicPayload(msg.data)
    const push = encoding === undefined ? { topic: msg.topic, peerid: from, data } : { topic: msg.topic, peerid: from, data, encoding }
    for (const l of listeners) l.push('topicData', push)
  }

  /**
   * Subscribe one connection to a client topic; resolves once the topic actor has joined (mesh
   * formed or timed out). The connection is unsubscribed when it closes.
   */
  async subscribe(topic: string, listener: TopicListener, signal?: AbortSignal): Promise<void> {
    clientTopicName(topic)
    const set = this.#listeners.get(topic) ?? new Set<TopicListener>()
    if (set.has(listener)) return
    this.#listeners.set(topic, set)
    set.add(listener)
    const hooks = this.#closeHooks.get(listener) ?? new Map<string, () => void>()
    this.#closeHooks.set(listener, hooks)
    hooks.set(
      topic,
      listener.onClose(() => void this.unsubscribe(topic, listener)),
    )
    const node = this.#node()
    node?.send({ type: 'topics.ensure', topic, meshTimeoutMs: this.deps.meshTimeoutMs, reprovideMs: this.deps.reprovideMs })
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
    const set = this.#listeners.get(clientTopicName(topic))
    if (!set?.delete(listener)) return false
    if (set.size === 0) this.#listeners.delete(topic)
    const hooks = this.#closeHooks.get(listener)
    hooks?.get(topic)?.()
    hooks?.delete(topic)
    if (hooks?.size === 0) this.#closeHooks.delete(listener)
    const watchers = this.#peerWatchers.get(topic)
    watchers?.delete(listener)
    if (watchers?.size === 0) this.#peerWatchers.delete(topic)
    this.#node()?.send({ type: 'topics.release', topic })
    return true
  }

  isSubscribed(topic: string, listener: TopicListener): boolean {
    return this.#listeners.get(topic)?.has(listener) ?? false
  }

  /** Without `encoding`, `data` (any JSON value) goes out as its JSON text, as p2p-webapp sends it; `text` and `base64` send a string's UTF-8 or decoded bytes. */
  async publish(topic: string, data: unknown, encoding?: TopicEncoding): Promise<void> {
    clientTopicName(topic)
    await this.pubsub.publish(topic, encodeTopicPayload(data, encoding))
  }

  listPeers(topic: string): string[] {
    return this.pubsub.getSubscribers(clientTopicName(topic)).map(String)
  }

  stop(): void {
    this.pubsub.removeEventListener('message', this.#onMessage as never)
    for (const hooks of this.#closeHooks.values()) for (const dispose of hooks.values()) dispose()
    this.#closeHooks.clear()
    this.#listeners.clear()
    this.#peerWatchers.clear()
  }
}
