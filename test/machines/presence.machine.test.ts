import { describe, expect, it } from 'vitest'
import { createActor, SimulatedClock } from 'xstate'
import { GREET_TRIES, presenceMachine, republishDelayMs } from '../../src/machines/presence/presence.machine.ts'
import type { Announcement, PresenceEmitted, PresenceEvent, Published } from '../../src/machines/presence/presence.types.ts'
import { controlledCallback, controlledPromise } from '../support/fakes.ts'
import { everyTransition, transitionKeyOf } from '../support/model.ts'

const flush = () => new Promise((resolve) => setImmediate(resolve))

/**
 * A fake presence topic: publishes are settled by the test, which says who each one reached; the
 * watch plays libp2p's subscription events. After every snapshot the state's invariants are checked
 * against the world: silent publishes nothing, publishing has exactly one publish in flight,
 * waiting has none.
 */
function presenceWorld() {
  const clock = new SimulatedClock()
  const watch = controlledCallback<{ alias: string }, PresenceEvent>('watch')
  const publish = controlledPromise<Published, { alias: string; announcement: Announcement }>('publish')
  let root: unknown
  const actor = createActor(presenceMachine.provide({ actors: { watch: watch.logic, publish: publish.logic } }), {
    input: { alias: 'a' },
    clock,
    inspect: (e) => {
      if (e.type === '@xstate.microstep' && e.actorRef === root) for (const t of e._transitions) taken.add(transitionKeyOf(t))
    },
  })
  root = actor
  const emitted: PresenceEmitted[] = []
  actor.on('presence.published', (e) => emitted.push(e))
  actor.on('presence.publishFailed', (e) => emitted.push(e))
  const violations: string[] = []
  const visited = new Set<string>()
  const inFlight = () => publish.calls.filter((c) => !c.settled && !c.signal.aborted).length
  actor.subscribe((s) => {
    const state = typeof s.value === 'string' ? s.value : JSON.stringify(s.value)
    visited.add(state)
    const n = inFlight()
    if (s.matches('silent') && publish.calls.length > 0) violations.push('silent, yet something was published')
    if (s.matches({ announcing: 'publishing' }) && n !== 1) violations.push(`publishing with ${n} publishes in flight`)
    if (s.matches({ announcing: 'waiting' }) && n !== 0) violations.push(`waiting with ${n} publishes in flight`)
    if (s.matches({ announcing: { waiting: 'quiet' } }) && Object.keys(s.context.greet).length > 0)
      violations.push('quiet with newcomers to greet')
  })
  actor.start()
  let seq = 0
  const world = {
    actor,
    clock,
    publish,
    emitted,
    violations,
    visited,
    value: () => actor.getSnapshot().value,
    announce(nickname = 'n', ttlSeconds = 10) {
      const id = `r${seq++}`
      actor.send({ type: 'presence.announce', id, nickname, ttlSeconds })
      return id
    },
    newcomer: (peerId: string) => watch.latest().sendBack({ type: 'presence.newcomer', peerId }),
    async published(recipients: string[] = []) {
      const call = publish.pending()
      call.resolve({
        record: { peerId: 'me', nickname: call.input.announcement.nickname, multiaddrs: [], createdAt: 1, expiresAt: 2 },
        recipients,
      })
      await flush()
      return call
    },
  }
  worlds.push(world)
  return world
}

const worlds: Array<{ visited: Set<string> }> = []
/** Transitions the real actors of every walk in this file took. */
const taken = new Set<string>()

describe('presence machine against a fake topic', () => {
  it('silent until announced; the first publish answers the announce; re-published at half the lifetime', async () => {
    const w = presenceWorld()
    expect(w.value()).toBe('silent')
    const id = w.announce('alice', 10)
    expect(w.value()).toEqual({ announcing: 'publishing' })
    expect(w.publish.pending().input.announcement).toEqual({ nickname: 'alice', ttlSeconds: 10 })
    await w.published()
    expect(w.emitted).toEqual([{ type: 'presence.published', ids: [id], record: expect.objectContaining({ nickname: 'alice' }) }])
    expect(w.value()).toEqual({ announcing: { waiting: 'quiet' } })
    w.clock.increment(republishDelayMs(10) - 1)
    expect(w.publish.calls).toHaveLength(1)
    w.clock.increment(1)
    expect(w.value()).toEqual({ announcing: 'publishing' })
    await w.published()
    expect(w.actor.getSnapshot().context.published).toBe(2)
    // a long lifetime is still re-published every minute
    expect(republishDelayMs(3600)).toBe(60_000)
    expect(w.violations).toEqual([])
  })

  it('an announce during a publish restarts it with the new announcement and answers both', async () => {
    const w = presenceWorld()
    const first = w.announce('a')
    const firstCall = w.publish.pending()
    const second = w.announce('b')
    expect(firstCall.signal.aborted).toBe(true)
    expect(w.publish.pending().input.announcement.nickname).toBe('b')
    await w.published()
    expect(w.emitted).toEqual([{ type: 'presence.published', ids: [first, second], record: expect.objectContaining({ nickname: 'b' }) }])
    // an announce while waiting publishes at once
    w.announce('c')
    expect(w.value()).toEqual({ announcing: 'publishing' })
    expect(w.violations).toEqual([])
  })

  it('greets newcomers together after a short pause, again while unreached, at most GREET_TRIES times', async () => {
    const w = presenceWorld()
    w.newcomer('ignored-while-silent')
    expect(w.actor.getSnapshot().context.greet).toEqual({})
    w.announce()
    await w.published()
    w.newcomer('p1')
    w.newcomer('p2')
    expect(w.value()).toEqual({ announcing: { waiting: 'greeting' } })
    w.clock.increment(199)
    expect(w.publish.calls).toHaveLength(1)
    w.clock.increment(1)
    expect(w.value()).toEqual({ announcing: 'publishing' })
    await w.published(['p1'])
    expect(w.actor.getSnapshot().context.greet).toEqual({ p2: GREET_TRIES - 1 })
    expect(w.value()).toEqual({ announcing: { waiting: 'greeting' } })
    for (let i = 0; i < GREET_TRIES - 1; i++) {
      w.clock.increment(200)
      await w.published([])
    }
    expect(w.actor.getSnapshot().context.greet).toEqual({})
    expect(w.value()).toEqual({ announcing: { waiting: 'quiet' } })
    expect(w.publish.calls).toHaveLength(1 + GREET_TRIES)
    expect(w.violations).toEqual([])
  })

  it('a failed publish refuses the waiting announce, records the error and is tried again at the republish pace', async () => {
    const w = presenceWorld()
    const id = w.announce('x', 4)
    w.publish.reject(new Error('no peers subscribed'))
    await flush()
    expect(w.emitted).toEqual([{ type: 'presence.publishFailed', ids: [id], message: 'no peers subscribed' }])
    expect(w.actor.getSnapshot().context.lastError).toBe('no peers subscribed')
    expect(w.value()).toEqual({ announcing: { waiting: 'quiet' } })
    w.clock.increment(2_000)
    expect(w.value()).toEqual({ announcing: 'publishing' })
    await w.published()
    expect(w.actor.getSnapshot().context.lastError).toBeNull()
    w.actor.send({ type: 'presence.republish' })
    expect(w.value()).toEqual({ announcing: 'publishing' })
    expect(w.violations).toEqual([])
  })

  it('counts the online peers its watch reports; a stop refuses an announce still waiting', async () => {
    const w = presenceWorld()
    w.actor.send({ type: 'presence.online', count: 3 })
    expect(w.actor.getSnapshot().context.online).toBe(3)
    const id = w.announce()
    w.actor.send({ type: 'presence.stop' })
    expect(w.actor.getSnapshot().status).toBe('done')
    expect(w.emitted).toEqual([{ type: 'presence.publishFailed', ids: [id], message: 'presence stopped' }])
    expect(w.publish.calls[0]?.signal.aborted).toBe(true)
    expect(w.visited).toEqual(new Set(['silent', JSON.stringify({ announcing: 'publishing' }), 'stopped']))
  })

  it('every transition of the definition, always included, was taken by a real actor in the walks above', () => {
    expect(everyTransition(presenceMachine).filter((t) => !taken.has(t))).toEqual([])
  })

  it('the walks above visit every state of the machine', () => {
    const all = new Set(worlds.flatMap((w) => [...w.visited]))
    expect([...all].sort()).toEqual(
      [
        'silent',
        JSON.stringify({ announcing: 'publishing' }),
        JSON.stringify({ announcing: { waiting: 'quiet' } }),
        JSON.stringify({ announcing: { waiting: 'greeting' } }),
        'stopped',
      ].sort(),
    )
  })
})
