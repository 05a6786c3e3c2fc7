import { TopicValidatorResult, type Message } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import type { SwitchboardLibp2p } from '../../p2p/node-factory.ts'
import {
  createPresence,
  decodePresence,
  encodePresence,
  MAX_PRESENCE_TTL_SECONDS,
  PRESENCE_TOPIC,
  type Presence,
  verifyPresence,
} from '../../p2p/presence-record.ts'
import type { NodeComponents, NodeService, SharedServices } from '../node/node-runtimes.ts'
import type { PresenceFeed } from './presence-feed.ts'

export interface PresenceSettings {
  /** ttlSeconds of an announcement that does not say. */
  defaultTtlSeconds: number
  /** Records kept per node; beyond, the soonest to expire go first. */
  maxRecords?: number
}

export interface PresenceDeps extends Pick<SharedServices, 'reputation' | 'activity' | 'addressBook'> {
  feed: PresenceFeed
  settings: PresenceSettings
}

/** A live announcement is re-published at half its lifetime, and at least this often (ms). */
const MAX_REPUBLISH_MS = 60_000
/** Newcomers are greeted together after this pause, and again while our stream to them is not up. */
const GREET_DELAY_MS = 200
const GREET_TRIES = 10
/** What a dropped record costs its author: a forgery is deliberate, a late record may be a slow clock. */
const VIOLATIONS = {
  ForgedPresenceError: ['forged-presence', 25],
  MalformedPresenceError: ['malformed-presence', 20],
  ExpiredPresenceError: ['expired-presence', 5],
} as const

export function republishDelayMs(ttlSeconds: number): number {
  return Math.min(MAX_REPUBLISH_MS, (ttlSeconds * 1000) / 2)
}

/**
 * One node's presence: its own announcement, published signed on the presence topic and
 * re-published before it expires (and when a peer newly subscribes, so it learns at once), and the
 * unexpired, validly signed records of the other peers. Records are checked in the topic validator,
 * so a forged one is neither kept nor forwarded, and its author's reputation pays.
 */
export class PresenceService implements NodeService {
  readonly #online = new Map<string, Presence>()
  #announcement: { nickname: string; ttlSeconds: number } | undefined
  #republish: NodeJS.Timeout | undefined
  #sweep: NodeJS.Timeout | undefined
  #sweepAt = Number.POSITIVE_INFINITY
  /** Newcomers still to greet, with tries left. */
  readonly #greet = new Map<string, number>()
  #greetTimer: NodeJS.Timeout | undefined
  #stopped = false
  readonly #self: string

  constructor(
    private readonly node: Pick<NodeComponents, 'alias' | 'privateKey'>,
    private readonly libp2p: SwitchboardLibp2p,
    private readonly deps: PresenceDeps,
  ) {
    this.#self = libp2p.peerId.toString()
    const pubsub = libp2p.services.pubsub
    pubsub.topicValidators.set(PRESENCE_TOPIC, this.#validate)
    pubsub.addEventListener('subscription-change', this.#onSubscriptionChange)
    pubsub.subscribe(PRESENCE_TOPIC)
  }

  get #alias(): string {
    return this.node.alias
  }

  /** Advertise this node as online; resolves once the first record is published. */
  async announce(opts: { nickname?: string; ttlSeconds?: number }): Promise<Presence> {
    const ttlSeconds = Math.min(
      MAX_PRESENCE_TTL_SECONDS,
      opts.ttlSeconds ?? this.#announcement?.ttlSeconds ?? this.deps.settings.defaultTtlSeconds,
    )
    this.#announcement = { nickname: opts.nickname ?? this.#announcement?.nickname ?? '', ttlSeconds }
    const { record } = await this.#publish()
    return record
  }

  /** The other peers online now, by peer id. */
  list(now = Date.now()): Presence[] {
    return [...this.#online.values()].filter((p) => p.expiresAt > now).sort((a, b) => a.peerId.localeCompare(b.peerId))
  }

  async #publish(): Promise<{ record: Presence; recipients: PeerId[] }> {
    const a = this.#announcement
    if (!a || this.#stopped) throw new Error('presence: nothing to announce')
    clearTimeout(this.#republish)
    // scheduled first, so a failed publish is retried at the same pace
    this.#republish = setTimeout(() => {
      this.#publish().catch((err: Error) =>
        this.deps.activity.add({ type: 'error', alias: this.#alias, message: `presence: re-publish failed: ${err.message}` }),
      )
    }, republishDelayMs(a.ttlSeconds))
    this.#republish.unref()
    const signed = await createPresence(this.node.privateKey, {
      nickname: a.nickname,
      multiaddrs: this.libp2p.getMultiaddrs().map(String),
      ttlSeconds: a.ttlSeconds,
    })
    const { recipients } = await this.libp2p.services.pubsub.publish(PRESENCE_TOPIC, encodePresence(signed))
    const { v: _v, signature: _s, ...record } = signed
    return { record, recipients }
  }

  readonly #onSubscriptionChange = (e: CustomEvent<{ peerId: PeerId; subscriptions: Array<{ topic: string; subscribe: boolean }> }>) => {
    if (!this.#announcement || this.#stopped) return
    if (!e.detail.subscriptions.some((s) => s.topic === PRESENCE_TOPIC && s.subscribe)) return
    this.#greet.set(e.detail.peerId.toString(), GREET_TRIES)
    this.#scheduleGreeting()
  }

  #scheduleGreeting(): void {
    if (this.#greetTimer || this.#stopped) return
    this.#greetTimer = setTimeout(() => void this.#greetNewcomers(), GREET_DELAY_MS)
    this.#greetTimer.unref()
  }

  /** One publish for every newcomer waiting; those it did not reach (no stream yet) wait for the next. */
  async #greetNewcomers(): Promise<void> {
    this.#greetTimer = undefined
    if (!this.#announcement || this.#stopped) return
    const reached = new Set((await this.#publish().catch(() => ({ recipients: [] as PeerId[] }))).recipients.map(String))
    for (const [peer, tries] of this.#greet) {
      if (reached.has(peer) || tries <= 1) this.#greet.delete(peer)
      else this.#greet.set(peer, tries - 1)
    }
    if (this.#greet.size > 0) this.#scheduleGreeting()
  }

  readonly #validate = async (propagationSource: PeerId, msg: Message): Promise<TopicValidatorResult> => {
    const sender = msg.type === 'signed' ? msg.from.toString() : propagationSource.toString()
    try {
      const record = decodePresence(msg.data)
      const presence = await verifyPresence(record, sender, msg.type === 'signed' ? { messageKey: msg.key } : {})
      if (presence.peerId === this.#self || this.#stopped) return TopicValidatorResult.Ignore
      const current = this.#online.get(presence.peerId)
      // an older record arriving late (gossip reordering) is harmless: keep the newer one
      if (current && current.createdAt >= presence.createdAt) return TopicValidatorResult.Ignore
      this.#accept(presence)
      return TopicValidatorResult.Accept
    } catch (err) {
      const e = err as Error
      const violation = VIOLATIONS[e.name as keyof typeof VIOLATIONS]
      if (!violation) throw err
      this.deps.reputation.violation(sender, violation[0], violation[1])
      this.deps.activity.add({
        type: 'error',
        alias: this.#alias,
        peerId: sender,
        message: `dropped a presence record from ${sender}: ${e.message}`,
      })
      return e.name === 'ExpiredPresenceError' ? TopicValidatorResult.Ignore : TopicValidatorResult.Reject
    }
  }

  #accept(p: Presence): void {
    this.#online.set(p.peerId, p)
    const max = this.deps.settings.maxRecords ?? 10_000
    if (this.#online.size > max) {
      const soonest = [...this.#online.values()].sort((a, b) => a.expiresAt - b.expiresAt).slice(0, this.#online.size - max)
      for (const s of soonest) this.#online.delete(s.peerId)
    }
    // a record signed by the peer itself is a good source of its addresses: peers.connect uses them
    for (const addr of p.multiaddrs) this.deps.addressBook.add(addr, { peerId: p.peerId, source: 'presence' })
    this.#scheduleSweep(p.expiresAt)
    this.deps.feed.emit(this.#alias, this.list())
  }

  #scheduleSweep(at: number): void {
    if (at >= this.#sweepAt || this.#stopped) return
    clearTimeout(this.#sweep)
    this.#sweepAt = at
    this.#sweep = setTimeout(() => this.#expire(), Math.max(0, at - Date.now()) + 5)
    this.#sweep.unref()
  }

  #expire(): void {
    this.#sweep = undefined
    this.#sweepAt = Number.POSITIVE_INFINITY
    const now = Date.now()
    let removed = false
    for (const [id, p] of this.#online) {
      if (p.expiresAt <= now) {
        this.#online.delete(id)
        removed = true
      }
    }
    let next = Number.POSITIVE_INFINITY
    for (const p of this.#online.values()) next = Math.min(next, p.expiresAt)
    if (Number.isFinite(next)) this.#scheduleSweep(next)
    if (removed) this.deps.feed.emit(this.#alias, this.list(now))
  }

  stop(): void {
    this.#stopped = true
    clearTimeout(this.#republish)
    clearTimeout(this.#sweep)
    clearTimeout(this.#greetTimer)
    const pubsub = this.libp2p.services.pubsub
    pubsub.removeEventListener('subscription-change', this.#onSubscriptionChange)
    pubsub.topicValidators.delete(PRESENCE_TOPIC)
    try {
      pubsub.unsubscribe(PRESENCE_TOPIC)
    } catch {
      // the node is stopping anyway
    }
  }
}

/** The node service factory: every local node announces itself and keeps the others' records. */
export const presenceService =
  (deps: PresenceDeps) =>
  ({ alias, privateKey, libp2p }: Pick<NodeComponents, 'alias' | 'privateKey' | 'libp2p'>): PresenceService =>
    new PresenceService({ alias, privateKey }, libp2p, deps)
