import type { AnyMachineSnapshot, EventObject } from 'xstate'
import { GREET_DELAY_MS, presenceMachine } from '../../src/machines/presence/presence.machine.ts'
import type { PresenceContext, PresenceEvent, PresenceInput, Published } from '../../src/machines/presence/presence.types.ts'
import { describeWorldModel, doneEvent, errorEvent, invokeId, type ModelState, type WorldModelSpec } from '../support/model.ts'
import { presenceAlways, presenceInvariants, type PresenceWorld, presenceWorld } from '../support/presence-world.ts'

const input: PresenceInput = { alias: 'a' }
// a short record (republished at 5 s) and a long one (republished at the one-minute cap)
const ANNOUNCEMENTS = [
  { nickname: 'ann', ttlSeconds: 10 },
  { nickname: 'bob', ttlSeconds: 600 },
]
const PEERS = ['P1', 'P2']
const MAX_WAITING = 2

const publishId = invokeId(presenceMachine, 'publish')
// the record is the world's (it signs what it publishes): the model needs one of the right shape only
const RECORD = { peerId: 'peer-a', nickname: '', multiaddrs: [], createdAt: 0, expiresAt: 0 }
const published = (recipients: string[]) => doneEvent<Published>(publishId, { record: RECORD, recipients })
const publishFailed = errorEvent(publishId, new Error('no peers subscribed to the presence topic'))

const spec: WorldModelSpec<PresenceWorld> = {
  machine: presenceMachine,
  input,
  // the abstract states the path generator tells apart (paths only: nothing is asserted with it)
  key: (snapshot: AnyMachineSnapshot) => {
    const c = snapshot.context as PresenceContext
    return JSON.stringify({
      value: snapshot.value,
      nickname: c.announcement?.nickname ?? null,
      waiting: c.waiting.length,
      greet: Object.keys(c.greet).sort(),
      published: c.published > 0,
      failed: c.lastError !== null,
    })
  },
  events: ({ snapshot, live, timers }: ModelState) => {
    const c = snapshot.context as PresenceContext
    const events: (PresenceEvent | EventObject)[] = [{ type: 'presence.stop' }, { type: 'presence.republish' }]
    if (c.waiting.length < MAX_WAITING) events.push(...ANNOUNCEMENTS.map((a) => ({ type: 'presence.announce', id: 'r', ...a })))
    events.push({ type: 'presence.online', count: 1 })
    const fresh = PEERS.find((p) => !(p in c.greet))
    if (fresh) events.push({ type: 'presence.newcomer', peerId: fresh })
    if (live.includes(publishId)) {
      events.push(published([]), publishFailed)
      if (Object.keys(c.greet).length > 0) events.push(published(Object.keys(c.greet).sort()))
    }
    // the greeting pause ends long before the republish time
    const greeting = timers.some((t) => t.startsWith('xstate.after.greetDelay'))
    return [...events, ...timers.filter((t) => !(greeting && t.startsWith('xstate.after.republish'))).map((type) => ({ type }))]
  },
  bind: () => presenceWorld(input),
  perform: (world, event) => {
    const e = event as PresenceEvent
    switch (e.type) {
      case 'presence.announce':
        return world.announce({ nickname: e.nickname, ttlSeconds: e.ttlSeconds })
      case 'presence.republish':
        return world.republish()
      case 'presence.stop':
        return world.stop()
      case 'presence.newcomer':
        return world.newcomer(e.peerId)
      case 'presence.online':
        return world.countOnline(e.count)
    }
    if (event.type === publishFailed.type) return world.failPublish(publishFailed.error)
    if (event.type === published([]).type) return world.finishPublish((event as unknown as { output: Published }).output.recipients)
    if (event.type.startsWith('xstate.after.greetDelay.')) return world.clock.fire(GREET_DELAY_MS)
    if (event.type.startsWith('xstate.after.republish.')) return world.clock.fire(world.republishMs())
    throw new Error(`the world cannot produce ${event.type}`)
  },
  invariants: presenceInvariants,
  always: presenceAlways,
}

describeWorldModel('presence', spec)
