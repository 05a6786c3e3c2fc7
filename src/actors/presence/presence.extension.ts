import { randomUUID } from 'node:crypto'
import { type Message, TopicValidatorResult } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import type { PresenceRef } from '../../machines/actor-refs.ts'
import type { Announcement, PresenceEmitted, PresenceEvent, Published } from '../../machines/presence/presence.types.ts'
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
import { NodeNotRunningError, type NodeComponents, type NodeService, type SharedServices } from '../node/node-runtimes.ts'
import type { PresenceFeed } from './presence-feed.ts'

export { republishDelayMs } from '../../machines/presence/presence.machine.ts'

export interface PresenceSettings {
  /** ttlSeconds of an announcement that does not say. */
  defaultTtlSeconds: number
  /** Records kept per node; beyond, the soonest to expire go first. */
  maxRecords?: number
}

export interface PresenceDeps extends Pick<SharedServices, 'reputation' | 'activity' | 'addressBook'> {
  feed: PresenceFeed
  settings: PresenceSettings
  /** The node's presence actor (`presence:<alias>`), spawned by the node machine once it runs. */
  actor: (alias: string) => PresenceRef | undefined
}

/** What a dropped record costs its author: a forgery is deliberate, a late record may be a slow clock. */
const VIOLATIONS = {
  ForgedPresenceError: ['forged-presence', 25],
  MalformedPresenceError: ['malformed-presence', 20],
  ExpiredPresenceError: ['expired-presence', 5],
} as const

/**
 * One node's presence. The states (silent, announcing: publishing / waiting, stopped) and every
 * timer belong to the presence actor (src/machines/presence); this service is its world and its
 * façade: `announce` sends the actor an event and waits for the publish that answers it, `list`
 * reads the records. The actor's `watch` (presence.actors.ts) runs `watch` below: records are checked
 * in the topic validator, so a forged one is neither kept nor forwarded, and its author's
 * reputation pays.
 */
export class PresenceService implements NodeService {
  readonly #online = new Map<string, Presence>()
  readonly #self: string

  constructor(
    private readonly node: Pick<NodeComponents, 'alias' | 'privateKey'>,
    readonly libp2p: SwitchboardLibp2p,
    private readonly deps: PresenceDeps,
  ) {
    this.#self = libp2p.peerId.toString()
  }

  get #alias(): string {
    return this.node.alias
  }

  /** Advertise this node as online; resolves once the first record is published. */
  announce(opts: { nickname?: string; ttlSeconds?: number }): Promise<Presence> {
    const actor = this.deps.actor(this.#alias)
    if (actor?.getSnapshot().status !== 'active') return Promise.reject(new NodeNotRunningError(this.#alias))
    const current = actor.getSnapshot().context.announcement
    const ttlSeconds = Math.min(MAX_PRESENCE_TTL_SECONDS, opts.ttlSeconds ?? current?.ttlSeconds ?? this.deps.settings.defaultTtlSeconds)
    const nickname = opts.nickname ?? current?.nickname ?? ''
    const id = randomUUID()
    return new Promise<Presence>((resolve, reject) => {
      const subs = [
        actor.on('presence.published', (e: PresenceEmitted) => {
          if (e.type !== 'presence.published' || !e.ids.includes(id)) return
          for (const s of subs) s.unsubscribe()
          resolve(e.record)
        }),
        actor.on('presence.publishFailed', (e: PresenceEmitted) => {
          if (e.type !== 'presence.publishFailed' || !e.ids.includes(id)) return
          for (const s of subs) s.unsubscribe()
          // the node stopped before the record went out (503), or the publish itself failed (500)
          reject(e.message === 'presence stopped' ? new NodeNotRunningError(this.#alias) : new Error(`presence: ${e.message}`))
        }),
      ]
      actor.send({ type: 'presence.announce', id, nickname, ttlSeconds })
    })
  }

  /** Nothing of its own to stop: the topic subscription, validator and timers end with the presence actor. */
  stop(): void {}

  /** The other peers online now, by peer id. */
  list(now = Date.now()): Presence[] {
    return [...this.#online.values()].filter((p) => p.expiresAt > now).sort((a, b) => a.peerId.localeCompare(b.peerId))
  }

  /** The `publish` effect: sign a record of the announcement and publish it on the presence topic. */
  async publish(a: Announcement): Promise<Published> {
    const signed = await createPresence(this.node.privateKey, {
      nickname: a.nickname,
      multiaddrs: this.libp2p.getMultiaddrs().map(String),
      ttlSeconds: a.ttlSeconds,
    })
    const { recipients } = await this.libp2p.services.pubsub.publish(PRESENCE_TOPIC, encodePresence(signed))
    const { v: _v, signature: _s, ...record } = signed
    return { record, recipients: recipients.map(String) }
  }

  /**
   * The `watch` effect, for as long as the actor lives: subscribe to the presence topic, validate
   * and keep records, expire them on time, tell the actor about newcomers and the online count.
   */
  watch(sendBack: (event: PresenceEvent) => void): () => void {
    const pubsub = this.libp2p.services.pubsub
    let stopped = false
    let sweep: NodeJS.Timeout | undefined
    let sweepAt = Number.POSITIVE_INFINITY

    const changed = (now = Date.now()) => {
      const online = this.list(now)
      sendBack({ type: 'presence.online', count: online.length })
      this.deps.feed.emit(this.#alias, online)
    }
    const scheduleSweep = (at: number) => {
      if (at >= sweepAt || stopped) return
      clearTimeout(sweep)
      sweepAt = at
      sweep = setTimeout(expire, Math.max(0, at - Date.now()) + 5)
      sweep.unref()
    }
    const expire = () => {
      sweep = undefined
      sweepAt = Number.POSITIVE_INFINITY
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
      if (Number.isFinite(next)) scheduleSweep(next)
      if (removed) changed(now)
    }
    const accept = (p: Presence) => {
      this.#online.set(p.peerId, p)
      const max = this.deps.settings.maxRecords ?? 10_000
      if (this.#online.size > max) {
        const soonest = [...this.#online.values()].sort((a, b) => a.expiresAt - b.expiresAt).slice(0, this.#online.size - max)
        for (const s of soonest) this.#online.delete(s.peerId)
      }
      // a record signed by the peer itself is a good source of its addresses: peers.connect uses them
      for (const addr of p.multiaddrs) this.deps.addressBook.add(addr, { peerId: p.peerId, source: 'presence' })
      scheduleSweep(p.expiresAt)
      changed()
    }
    const validate = async (propagationSource: PeerId, msg: Message): Promise<TopicValidatorResult> => {
      const sender = msg.type === 'signed' ? msg.from.toString() : propagationSource.toString()
      try {
        const record = decodePresence(msg.data)
        const presence = await verifyPresence(record, sender, msg.type === 'signed' ? { messageKey: msg.key } : {})
        if (presence.peerId === this.#self || stopped) return TopicValidatorResult.Ignore
        const current = this.#online.get(presence.peerId)
        // an older record arriving late (gossip reordering) is harmless: keep the newer one
        if (current && current.createdAt >= presence.createdAt) return TopicValidatorResult.Ignore
        accept(presence)
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
    const onSubscriptionChange = (e: CustomEvent<{ peerId: PeerId; subscriptions: Array<{ topic: string; subscribe: boolean }> }>) => {
      if (stopped || !e.detail.subscriptions.some((s) => s.topic === PRESENCE_TOPIC && s.subscribe)) return
      sendBack({ type: 'presence.newcomer', peerId: e.detail.peerId.toString() })
    }

    pubsub.topicValidators.set(PRESENCE_TOPIC, validate)
    pubsub.addEventListener('subscription-change', onSubscriptionChange)
    pubsub.subscribe(PRESENCE_TOPIC)
    return () => {
      stopped = true
      clearTimeout(sweep)
      pubsub.removeEventListener('subscription-change', onSubscriptionChange)
      if (pubsub.topicValidators.get(PRESENCE_TOPIC) === validate) pubsub.topicValidators.delete(PRESENCE_TOPIC)
      try {
        pubsub.unsubscribe(PRESENCE_TOPIC)
      } catch {
        // the node is stopping anyway
      }
    }
  }
}

/** The node service factory: every local node announces itself and keeps the others' records. */
export const presenceService =
  (deps: PresenceDeps) =>
  ({ alias, privateKey, libp2p }: Pick<NodeComponents, 'alias' | 'privateKey' | 'libp2p'>): PresenceService =>
    new PresenceService({ alias, privateKey }, libp2p, deps)
