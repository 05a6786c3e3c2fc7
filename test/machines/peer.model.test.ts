import { expect } from 'vitest'
import type { AnyMachineSnapshot, EventObject } from 'xstate'
import { peerMachine, retryDelay } from '../../src/machines/peer/peer.machine.ts'
import type { DialResult, PeerContext, PeerEvent, PeerInput } from '../../src/machines/peer/peer.types.ts'
import { controlledPromise } from '../support/fakes.ts'
import { describeModel, type Harness, type ModelSpec, type ModelState, startProbed } from '../support/model.ts'

// two explicit tries keep the tries counter small enough to enumerate and still pass through `retrying`
const input: PeerInput = {
  alias: 'm',
  peerId: '12D3KooWModelPeer',
  backoff: {
    initialMs: 100,
    maxMs: 400,
    explicitRetryMs: 50,
    explicitTries: 2,
  },
}

/** A done or error event of an invoked actor, as xstate delivers it. */
type ActorEvent = EventObject & { output?: unknown; error?: unknown }

const invokeId = (state: 'connecting' | 'disconnecting') => peerMachine.root.states[state]?.invoke[0]?.id ?? ''
const dialId = invokeId('connecting')
const hangUpId = invokeId('disconnecting')
const dialDone: ActorEvent = {
  type: `xstate.done.actor.${dialId}`,
  output: { connectionType: 'direct', at: 7 } satisfies DialResult,
}
const dialError: ActorEvent = {
  type: `xstate.error.actor.${dialId}`,
  error: new Error('connection refused'),
}
const hangUpDone: ActorEvent = {
  type: `xstate.done.actor.${hangUpId}`,
  output: undefined,
}
const hangUpError: ActorEvent = {
  type: `xstate.error.actor.${hangUpId}`,
  error: new Error('hang up failed'),
}

const outside: PeerEvent[] = [
  { type: 'peer.connect' },
  { type: 'peer.disconnect' },
  // incoming connections arrive relayed here and the direct one replaces them, as in the issue
  { type: 'peer.connected', connectionType: 'relay', at: 5 },
  { type: 'peer.connectionType', connectionType: 'direct' },
  { type: 'peer.disconnected', at: 6 },
  { type: 'peer.update', known: true },
  { type: 'peer.update', known: false },
  { type: 'peer.update', autoConnect: true },
  { type: 'peer.update', autoConnect: false },
  { type: 'peer.setAdded', added: true },
  { type: 'peer.setAdded', added: false },
  { type: 'peer.syncStarted' },
  { type: 'peer.syncFinished', at: 9 },
]

const spec: ModelSpec = {
  machine: peerMachine,
  input,
  key: (snapshot: AnyMachineSnapshot) => {
    const c = snapshot.context as PeerContext
    return JSON.stringify({
      value: snapshot.value,
      known: c.known,
      autoConnect: c.autoConnect,
      added: c.added,
      held: c.held,
      connectionType: c.connectionType,
      triesLeft: c.triesLeft,
      lastError: c.lastError,
      // only the retry delay depends on the count beyond this; the harness checks that delay
      failures: Math.min(c.failures, 2),
      synced: c.lastSyncAt !== null,
    })
  },
  events: ({ live, timers }: ModelState) => [
    ...outside,
    ...(live.includes(dialId) ? [dialDone, dialError] : []),
    ...(live.includes(hangUpId) ? [hangUpDone, hangUpError] : []),
    ...timers.map((type) => ({ type })),
  ],
}

function harness(): Harness {
  const dial = controlledPromise<DialResult, { alias: string; peerId: string }>('dial')
  const hangUp = controlledPromise<void, { alias: string; peerId: string }>('hangUp')
  const { actor, probe, emitted, clock } = startProbed(peerMachine.provide({ actors: { dial: dial.logic, hangUp: hangUp.logic } }), input)
  return {
    actor,
    probe,
    emitted,
    perform: (event) => {
      if (event.type === dialDone.type) return dial.resolve((event as ActorEvent).output as DialResult)
      if (event.type === dialError.type) return dial.reject((event as ActorEvent).error)
      if (event.type === hangUpDone.type) return hangUp.resolve()
      if (event.type === hangUpError.type) return hangUp.reject((event as ActorEvent).error)
      if (event.type.startsWith('xstate.after.')) {
        // advance by exactly the delay the context calls for: a longer timer would never fire here
        const snap = actor.getSnapshot()
        const c = snap.context as PeerContext
        return clock.increment(snap.matches('retrying') ? c.backoff.explicitRetryMs : retryDelay(c))
      }
      return actor.send(event as PeerEvent)
    },
  }
}

describeModel('peer', spec, harness, () => {
  expect(dialId).not.toBe('')
  expect(hangUpId).not.toBe('')
})
