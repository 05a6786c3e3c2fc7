import { type AnyActor, fromCallback, fromPromise } from 'xstate'
import {
  GREET_DELAY_MS,
  GREET_TRIES,
  presenceMachine,
  presencePublicContext,
  republishDelayMs,
} from '../../src/machines/presence/presence.machine.ts'
import type {
  Announcement,
  PresenceEmitted,
  PresenceEvent,
  PresenceInput,
  Published,
  PublishedRecord,
} from '../../src/machines/presence/presence.types.ts'
import { check, type Invariants, WorldClock } from './model.ts'

interface PublishCall {
  announcement: Announcement
  signal: AbortSignal
  settled: boolean
  resolve(published: Published): void
  reject(error: Error): void
}

/** One announce request of a client: pending until an emitted answer names it. */
interface Request {
  id: string
  announcement: Announcement
  answer: 'published' | 'failed' | undefined
}

/**
 * What the presence actor's effects touch, faked: the presence topic (our record as the other
 * peers hold it, the peers that newly subscribed and have not had it yet, with the greetings
 * left to try), the publishes in flight, the clients waiting for their announce to be answered,
 * the watch on the topic, and the clock. Nothing here reads the machine.
 */
export class PresenceWorld {
  readonly clock = new WorldClock()
  readonly publishes: PublishCall[] = []
  readonly requests: Request[] = []
  /** Our record as the topic has it (the newest one published). */
  record: PublishedRecord | undefined
  /** How the newest publish that settled ended. */
  lastPublish: 'ok' | 'failed' | undefined
  /** Peers subscribed since our last record reached them, with the greetings left. */
  readonly newcomers = new Map<string, number>()
  readonly watchers = new Set<(event: PresenceEvent) => void>()
  /** The node stopped the presence actor. */
  stopAsked = false
  /** Records published (that went out). */
  published = 0
  /** Why the newest publish failed; null once one goes out. */
  lastError: string | null = null
  /** Other peers online, as the topic last counted them. */
  online = 0
  readonly violations: string[] = []
  #next = 0

  constructor(readonly settings: PresenceInput) {}

  readonly effects = {
    watch: fromCallback<PresenceEvent, { alias: string }>(({ input, sendBack }) => {
      if (input.alias !== this.settings.alias) this.violations.push(`watching the presence topic of ${input.alias}`)
      this.watchers.add(sendBack)
      return () => this.watchers.delete(sendBack)
    }),
    publish: fromPromise<Published, { alias: string; announcement: Announcement }>(
      ({ input, signal }) =>
        new Promise<Published>((resolve, reject) => {
          if (input.alias !== this.settings.alias) this.violations.push(`published for ${input.alias}`)
          if (this.publishesInFlight() > 0) this.violations.push('two publishes in flight at once')
          const call: PublishCall = {
            announcement: input.announcement,
            signal,
            settled: false,
            resolve: (p) => {
              call.settled = true
              resolve(p)
            },
            reject: (e) => {
              call.settled = true
              reject(e)
            },
          }
          this.publishes.push(call)
        }),
    ),
  }

  attach = (actor: AnyActor) => {
    const answer = (e: PresenceEmitted, answer: 'published' | 'failed') => {
      for (const id of e.ids) {
        const request = this.requests.find((r) => r.id === id)
        if (!request) this.violations.push(`answered ${id}, which nobody asked`)
        else if (request.answer) this.violations.push(`answered ${id} twice`)
        else request.answer = answer
      }
    }
    actor.on('presence.published', (emitted) => {
      const e = emitted as unknown as Extract<PresenceEmitted, { type: 'presence.published' }>
      if (e.record !== this.record) this.violations.push('answered with a record the topic does not hold')
      answer(e, 'published')
    })
    actor.on('presence.publishFailed', (e) => answer(e as unknown as PresenceEmitted, 'failed'))
    this.#send = (event) => actor.send(event)
  }

  #send: (event: PresenceEvent) => void = () => {
    throw new Error('the world has no actor')
  }

  // -- what the outside world does --------------------------------------------------------------

  /** A client announces (under a request id of the world's, unique over the whole path). */
  announce(announcement: Announcement): void {
    const id = `r${++this.#next}`
    this.requests.push({ id, announcement, answer: undefined })
    this.#send({ type: 'presence.announce', id, ...announcement })
  }

  republish(): void {
    this.#send({ type: 'presence.republish' })
  }

  stop(): void {
    this.stopAsked = true
    this.#send({ type: 'presence.stop' })
  }

  #watch(event: PresenceEvent): void {
    if (this.watchers.size === 0) throw new Error('nobody watches the presence topic')
    for (const w of [...this.watchers]) w(event)
  }

  /** A peer subscribes to the presence topic. */
  newcomer(peerId: string): void {
    // before an announcement there is nothing to greet them with; the first publish reaches every subscriber
    if (this.requests.length > 0 && !this.stopAsked) this.newcomers.set(peerId, GREET_TRIES)
    this.#watch({ type: 'presence.newcomer', peerId })
  }

  /** Records of other peers came or went. */
  countOnline(count: number): void {
    this.online = count
    this.#watch({ type: 'presence.online', count })
  }

  pendingPublish(): PublishCall {
    const call = this.publishes.find((c) => !c.settled && !c.signal.aborted)
    if (!call) throw new Error('no publish is in flight')
    return call
  }

  /** The publish in flight goes out and reaches `recipients`. */
  finishPublish(recipients: string[]): void {
    const call = this.pendingPublish()
    const now = this.clock.now
    const record: PublishedRecord = {
      peerId: `peer-${this.settings.alias}`,
      nickname: call.announcement.nickname,
      multiaddrs: ['/ip4/127.0.0.1/tcp/4001'],
      createdAt: now,
      expiresAt: now + call.announcement.ttlSeconds * 1000,
    }
    this.record = record
    this.lastPublish = 'ok'
    this.published++
    this.lastError = null
    this.#greeted(recipients)
    call.resolve({ record, recipients })
  }

  failPublish(error: Error): void {
    const call = this.pendingPublish()
    this.lastPublish = 'failed'
    this.lastError = error.message
    this.#greeted([])
    call.reject(error)
  }

  /** A publish greeted the newcomers it reached; the others have one try less (none left: given up). */
  #greeted(recipients: string[]): void {
    for (const [peer, tries] of [...this.newcomers]) {
      if (recipients.includes(peer) || tries <= 1) this.newcomers.delete(peer)
      else this.newcomers.set(peer, tries - 1)
    }
  }

  publishesInFlight = () => this.publishes.filter((c) => !c.settled && !c.signal.aborted).length
  pending = () => this.requests.filter((r) => r.answer === undefined)
  latest = () => this.requests.at(-1)?.announcement
  republishMs = () => republishDelayMs(this.latest()?.ttlSeconds ?? 0)
}

export function presenceAlways(w: PresenceWorld, actor: AnyActor): void {
  check(w.violations.length === 0, w.violations.join('; '))
  // what a client sees of the presence follows the world's own account
  const view = presencePublicContext(actor.getSnapshot().context)
  const latest = w.latest()
  const expected = {
    alias: w.settings.alias,
    nickname: latest?.nickname ?? null,
    ttlSeconds: latest?.ttlSeconds ?? null,
    published: w.published,
    lastPublishedAt: w.record?.createdAt ?? null,
    greeting: w.stopAsked ? view.greeting : w.newcomers.size,
    online: w.online,
    lastError: w.lastError,
  }
  check(
    JSON.stringify(view) === JSON.stringify(expected),
    `the presence shows ${JSON.stringify(view)}, the world ${JSON.stringify(expected)}`,
  )
  check(w.publishesInFlight() <= 1, `${w.publishesInFlight()} publishes in flight`)
}

const announcing = (w: PresenceWorld) => {
  check(w.requests.length > 0, 'announcing, and no client announced')
  check(!w.stopAsked, 'announcing after its node stopped it')
  check(w.watchers.size === 1, 'announcing without watching the presence topic')
}

/** Per state, what the world must look like (from src/machines/catalog.ts and docs/statecharts/presence.md). */
export const presenceInvariants: Invariants<PresenceWorld> = {
  silent: (w) => {
    check(w.requests.length === 0, 'silent after a client announced')
    check(w.publishes.length === 0 && w.record === undefined, 'silent, and something was published')
    check(w.watchers.size === 1, 'not watching the presence topic')
    check(!w.stopAsked, 'silent after its node stopped it')
  },
  announcing,
  'announcing.publishing': (w) => {
    check(w.publishesInFlight() === 1, `publishing with ${w.publishesInFlight()} publishes in flight`)
    const latest = w.latest()
    const call = w.pendingPublish()
    check(
      call.announcement.nickname === latest?.nickname && call.announcement.ttlSeconds === latest.ttlSeconds,
      `publishing ${JSON.stringify(call.announcement)}, the newest announcement is ${JSON.stringify(latest)}`,
    )
    check(w.clock.armed.size === 0, 'a republish or greeting armed while publishing')
  },
  'announcing.waiting': (w) => {
    check(w.publishesInFlight() === 0, 'waiting with a publish in flight')
    check(w.pending().length === 0, `announce requests ${w.pending().map((r) => r.id)} left unanswered`)
    check(w.lastPublish !== undefined, 'waiting, and no publish ever settled')
    check(w.clock.armedFor(w.republishMs()) === 1, `no republish armed for ${w.republishMs()} ms`)
    if (w.lastPublish === 'ok') {
      const latest = w.latest()
      check(w.record?.nickname === latest?.nickname, `the topic holds ${w.record?.nickname}, announced ${latest?.nickname}`)
      const republish = [...w.clock.armed.values()].find((t) => t.ms === w.republishMs())
      check((republish?.at ?? Number.POSITIVE_INFINITY) < (w.record?.expiresAt ?? 0), 'our record expires before the next publish')
    }
    for (const r of w.requests) {
      const published = r.answer === 'published'
      if (published) check(w.record !== undefined, `${r.id} was told published, and nothing is in the topic`)
    }
  },
  'announcing.waiting.quiet': (w) => {
    check(w.newcomers.size === 0, `quiet while ${[...w.newcomers.keys()]} have not had our record`)
    check(w.clock.armedFor(GREET_DELAY_MS) === 0, 'a greeting armed while quiet')
  },
  'announcing.waiting.greeting': (w) => {
    check(w.newcomers.size > 0, 'greeting nobody')
    check(w.clock.armedFor(GREET_DELAY_MS) === 1, 'greeting with no greeting publish armed')
  },
  stopped: (w) => {
    check(w.stopAsked, 'stopped, and its node never stopped it')
    check(w.publishesInFlight() === 0, 'a publish still in flight after stopping')
    check(w.pending().length === 0, `announce requests ${w.pending().map((r) => r.id)} left unanswered after stopping`)
    check(w.watchers.size === 0, 'still watching the presence topic after stopping')
    check(w.clock.armed.size === 0, 'timers armed after stopping')
  },
}

export function presenceWorld(input: PresenceInput) {
  const world = new PresenceWorld(input)
  return { world, machine: presenceMachine.provide({ actors: world.effects }), clock: world.clock, attach: world.attach }
}
