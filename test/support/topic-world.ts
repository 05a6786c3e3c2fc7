import { type AnyActor, type EventObject, fromCallback, fromPromise } from 'xstate'
import { topicMachine } from '../../src/machines/topic/topic.machine.ts'
import type { TopicEmitted, TopicEvent, TopicInput } from '../../src/machines/topic/topic.types.ts'
import { check, type Invariants, WorldClock } from './model.ts'

interface Pending<T> {
  settled: boolean
  resolve(value: T): void
  reject(error: Error): void
}

function pending<T>(list: Pending<T>[], resolve: (value: T) => void, reject: (error: Error) => void): void {
  const p: Pending<T> = {
    settled: false,
    resolve: (v) => {
      p.settled = true
      resolve(v)
    },
    reject: (e) => {
      p.settled = true
      reject(e)
    },
  }
  list.push(p)
}

/**
 * What the topic actor's effects touch, faked: GossipSub (our subscriptions, the remote peers
 * subscribed to the topic, its subscription-change listeners), the DHT advertisement of the topic,
 * the connections that hold the topic, and the clock. Nothing here reads the machine.
 */
export class TopicWorld {
  readonly clock = new WorldClock()
  /** Topics this node is subscribed to in GossipSub. */
  readonly subscriptions = new Set<string>()
  /** Remote peers subscribed to the topic, as GossipSub knows them. */
  readonly remote = new Set<string>()
  readonly listeners = new Set<(event: TopicEvent) => void>()
  /** Topics advertised on the DHT (the discover effect runs). */
  readonly advertised = new Set<string>()
  readonly joins: Pending<string[]>[] = []
  readonly leaves: Pending<void>[] = []
  /** Connections subscribed through the actor (retain +1, release -1; the first one spawned it). */
  holders = 1
  /** Peers the application was told about: the join's answer, then peerChange pushes. */
  readonly told = new Set<string>()
  failures = 0
  /** A remote peer was subscribed at some point since the newest join started. */
  peerSeen = false
  /** Connections holding the topic when the newest join started. */
  holdersAtJoin = 0
  /** Mesh timeouts that had fired when the newest join started. */
  meshFiredAtJoin = 0
  readonly violations: string[] = []
  #peers = 0

  constructor(readonly settings: TopicInput) {}

  readonly effects = {
    join: fromPromise<string[], { alias: string; topic: string }>(
      ({ input }) =>
        new Promise<string[]>((resolve, reject) => {
          this.subscriptions.add(input.topic)
          this.peerSeen = false
          this.holdersAtJoin = this.holders
          this.meshFiredAtJoin = this.meshFired()
          pending(
            this.joins,
            (peers) => {
              // the application learns who is already there from the join's answer
              this.told.clear()
              for (const p of peers) this.told.add(p)
              resolve(peers)
            },
            reject,
          )
        }),
    ),
    leave: fromPromise<void, { alias: string; topic: string }>(
      ({ input }) =>
        new Promise<void>((resolve, reject) => {
          this.subscriptions.delete(input.topic)
          pending(this.leaves, resolve, reject)
        }),
    ),
    watchTopic: fromCallback<TopicEvent, { alias: string; topic: string }>(({ sendBack }) => {
      const listener = (event: TopicEvent) => sendBack(event)
      this.listeners.add(listener)
      return () => this.listeners.delete(listener)
    }),
    discover: fromCallback<TopicEvent, { alias: string; topic: string; reprovideMs: number }>(({ input }) => {
      if (this.advertised.has(input.topic)) this.violations.push('two discover runs advertise the topic at once')
      this.advertised.add(input.topic)
      return () => this.advertised.delete(input.topic)
    }),
  }

  attach = (actor: AnyActor) => {
    actor.on('topic.peerChange', (emitted: EventObject) => {
      const e = emitted as TopicEmitted
      if (e.topic !== this.settings.topic) this.violations.push(`peerChange for another topic ${e.topic}`)
      if (e.joined && this.told.has(e.peerId)) this.violations.push(`told twice that ${e.peerId} joined`)
      if (!e.joined && !this.told.has(e.peerId)) this.violations.push(`told that ${e.peerId} left, never told it joined`)
      if (e.joined) this.told.add(e.peerId)
      else this.told.delete(e.peerId)
    })
  }

  // -- what the outside world does ------------------------------------------------------------

  pendingJoin(): Pending<string[]> {
    const p = this.joins.find((j) => !j.settled)
    if (!p) throw new Error('no GossipSub join is in flight')
    return p
  }

  pendingLeave(): Pending<void> {
    const p = this.leaves.find((j) => !j.settled)
    if (!p) throw new Error('no GossipSub leave is in flight')
    return p
  }

  /** The join finishes; `withPeer`: a remote peer was already subscribed. */
  finishJoin(withPeer: boolean): void {
    const join = this.pendingJoin()
    if (withPeer) {
      this.remote.add(`P${++this.#peers}`)
      this.peerSeen = true
    } else this.remote.clear()
    join.resolve([...this.remote])
  }

  failJoin(error: Error): void {
    const join = this.pendingJoin()
    // a join that fails leaves nothing subscribed
    this.subscriptions.delete(this.settings.topic)
    this.failures++
    join.reject(error)
  }

  failLeave(error: Error): void {
    this.failures++
    this.pendingLeave().reject(error)
  }

  notify(event: TopicEvent): void {
    if (this.listeners.size === 0) throw new Error('nobody listens to GossipSub subscription changes')
    for (const l of [...this.listeners]) l(event)
  }

  /** A remote peer subscribes (a new one) or one subscribed leaves. */
  remoteJoins(): void {
    const peer = `P${++this.#peers}`
    this.remote.add(peer)
    this.peerSeen = true
    this.notify({ type: 'topic.peerJoined', peerId: peer })
  }

  remoteLeaves(): void {
    const peer = [...this.remote][0] ?? 'Pstranger'
    this.remote.delete(peer)
    this.notify({ type: 'topic.peerLeft', peerId: peer })
  }

  subscribed = () => this.subscriptions.has(this.settings.topic)
  joinsInFlight = () => this.joins.filter((j) => !j.settled).length
  leavesInFlight = () => this.leaves.filter((j) => !j.settled).length
  meshTimers = () => this.clock.armedFor(this.settings.meshTimeoutMs)
  meshFired = () => this.clock.fired.filter((ms) => ms === this.settings.meshTimeoutMs).length
  /** The mesh timeout passed since the newest join started. */
  meshTimedOut = () => this.meshFired() > this.meshFiredAtJoin
}

/** Facts that hold in every state, from the catalog's description of a topic actor. */
export function topicAlways(w: TopicWorld): void {
  check(w.violations.length === 0, w.violations.join('; '))
  check(w.holders >= 0, `${w.holders} holders`)
  check(w.joinsInFlight() + w.leavesInFlight() <= 1, 'a join and a leave in flight at once')
  check(w.listeners.size <= 1, `${w.listeners.size} subscription-change listeners`)
}

/** Per state, what the world must look like (from src/machines/catalog.ts and docs/statecharts/topic.md). */
export const topicInvariants: Invariants<TopicWorld> = {
  joining: (w) => {
    check(w.joinsInFlight() === 1, `${w.joinsInFlight()} joins in flight, expected 1`)
    check(w.holdersAtJoin > 0, 'a join started while no connection held the topic')
    check(w.subscribed(), 'joining but not subscribing in GossipSub')
    check(w.advertised.size === 0, 'advertised on the DHT before joining')
    check(w.listeners.size === 0, 'watching topic peers before joining')
  },
  joined: (w) => {
    check(w.subscribed(), 'joined but not subscribed in GossipSub')
    check(w.holders > 0, 'joined with no connection holding the topic')
    check(w.listeners.size === 1, 'joined without watching topic peers')
    check(w.joinsInFlight() === 0 && w.leavesInFlight() === 0, 'joined with a join or leave in flight')
    const told = [...w.told].sort().join(',')
    const truth = [...w.remote].sort().join(',')
    check(told === truth, `the application was told the topic peers are [${told}], GossipSub has [${truth}]`)
  },
  'joined.meshForming': (w) => {
    check(w.remote.size === 0, `still forming the mesh with ${w.remote.size} topic peers present`)
    check(w.meshTimers() === 1, `${w.meshTimers()} mesh timers armed, expected 1`)
    check(!w.meshTimedOut(), 'still forming the mesh after the mesh timeout passed')
    check(w.advertised.size === 0, 'advertising on the DHT while the mesh forms')
  },
  'joined.subscribed': (w) => {
    check(w.advertised.has(w.settings.topic), 'subscribed but not advertised on the DHT')
    check(w.meshTimers() === 0, 'subscribed with the mesh timer still armed')
    check(w.peerSeen || w.meshTimedOut(), 'subscribed before any topic peer appeared and before the mesh timeout')
  },
  leaving: (w) => {
    check(!w.subscribed(), 'leaving but still subscribed in GossipSub')
    check(w.leavesInFlight() === 1, `${w.leavesInFlight()} leaves in flight, expected 1`)
    check(w.advertised.size === 0, 'still advertised on the DHT while leaving')
    check(w.listeners.size === 0, 'still watching topic peers while leaving')
    check(w.meshTimers() === 0, 'a mesh timer armed while leaving')
  },
  left: (w) => {
    check(!w.subscribed(), 'left but still subscribed in GossipSub')
    check(w.holders === 0 || w.failures > 0, `left while ${w.holders} connections hold the topic, with no failure`)
    check(w.advertised.size === 0, 'still advertised on the DHT after leaving')
    check(w.listeners.size === 0, 'still watching topic peers after leaving')
    check(w.joinsInFlight() + w.leavesInFlight() === 0, 'a join or leave still in flight after leaving')
    check(w.meshTimers() === 0, 'a mesh timer armed after leaving')
  },
}

export function topicWorld(input: TopicInput) {
  const world = new TopicWorld(input)
  return { world, machine: topicMachine.provide({ actors: world.effects }), clock: world.clock, attach: world.attach }
}
