import { describe, expect, it } from 'vitest'
import { createActor, SimulatedClock } from 'xstate'
import { presenceMachine, presencePublicContext } from '../../src/machines/presence/presence.machine.ts'
import type { Announcement, PresenceEmitted, PresenceEvent, Published } from '../../src/machines/presence/presence.types.ts'
import { controlledCallback, controlledPromise } from '../support/fakes.ts'

// Edges of presence that the walks in presence.machine.test.ts do not pin down (found by npm run mutate).
const tick = () => new Promise((resolve) => setImmediate(resolve))

function presence() {
  const clock = new SimulatedClock()
  const watch = controlledCallback<{ alias: string }, PresenceEvent>('watch')
  const publish = controlledPromise<Published, { alias: string; announcement: Announcement }>('publish')
  const actor = createActor(presenceMachine.provide({ actors: { watch: watch.logic, publish: publish.logic } }), {
    input: { alias: 'a' },
    clock,
  })
  const emitted: PresenceEmitted[] = []
  actor.on('presence.published', (e) => emitted.push(e))
  actor.on('presence.publishFailed', (e) => emitted.push(e))
  actor.start()
  const published = async () => {
    const call = publish.pending()
    const { nickname } = call.input.announcement
    call.resolve({ record: { peerId: 'me', nickname, multiaddrs: [], createdAt: 7, expiresAt: 9 }, recipients: [] })
    await tick()
  }
  return { actor, clock, watch, publish, emitted, published }
}

describe('presence edges', () => {
  it('watches the presence topic of its own node', () => {
    expect(presence().watch.latest().input).toEqual({ alias: 'a' })
  })

  it('a publish answers only the announces made since the previous one', async () => {
    const p = presence()
    p.actor.send({ type: 'presence.announce', id: 'r1', nickname: 'n', ttlSeconds: 10 })
    await p.published()
    p.actor.send({ type: 'presence.republish' })
    await p.published()
    expect(p.emitted.map((e) => e.ids)).toEqual([['r1'], []])
  })

  it('after a failed publish, the next one answers only new announces', async () => {
    const p = presence()
    p.actor.send({ type: 'presence.announce', id: 'r1', nickname: 'n', ttlSeconds: 10 })
    p.publish.pending().reject(new Error('no peers'))
    await tick()
    p.actor.send({ type: 'presence.announce', id: 'r2', nickname: 'n', ttlSeconds: 10 })
    await p.published()
    expect(p.emitted.map((e) => [e.type, e.ids])).toEqual([
      ['presence.publishFailed', ['r1']],
      ['presence.published', ['r2']],
    ])
  })

  it('a stop refuses nothing when no announce waits, and refuses a waiting one once', async () => {
    const idle = presence()
    idle.actor.send({ type: 'presence.stop' })
    expect(idle.emitted).toEqual([])

    const busy = presence()
    busy.actor.send({ type: 'presence.announce', id: 'r1', nickname: 'n', ttlSeconds: 10 })
    busy.actor.send({ type: 'presence.stop' })
    expect(busy.emitted).toEqual([{ type: 'presence.publishFailed', ids: ['r1'], message: 'presence stopped' }])
    expect(busy.actor.getSnapshot().context.waiting).toEqual([])
  })

  it('shows clients its announcement, publishes, greeting and online count', async () => {
    const p = presence()
    expect(presencePublicContext(p.actor.getSnapshot().context)).toEqual({
      alias: 'a',
      nickname: null,
      ttlSeconds: null,
      published: 0,
      lastPublishedAt: null,
      greeting: 0,
      online: 0,
      lastError: null,
    })
    p.actor.send({ type: 'presence.announce', id: 'r1', nickname: 'nick', ttlSeconds: 30 })
    await p.published()
    p.watch.latest().sendBack({ type: 'presence.online', count: 2 })
    p.watch.latest().sendBack({ type: 'presence.newcomer', peerId: 'p1' })
    expect(presencePublicContext(p.actor.getSnapshot().context)).toEqual({
      alias: 'a',
      nickname: 'nick',
      ttlSeconds: 30,
      published: 1,
      lastPublishedAt: 7,
      greeting: 1,
      online: 2,
      lastError: null,
    })
  })
})
