import { type AnyMachineSnapshot, createActor, type EventObject } from 'xstate'
import { getStateNodes } from 'xstate/graph'
import { describe, expect, it } from 'vitest'
import { pairingMachine } from '../../src/machines/pairing/pairing.machine.ts'
import type { PairingContext, PairingEvent, PairingInput } from '../../src/machines/pairing/pairing.types.ts'
import { describeWorldModel, doneEvent, errorEvent, type ModelState, type WorldModelSpec } from '../support/model.ts'
import {
  type HandshakeEnd,
  pairingAlways,
  pairingInvariants,
  type PairingWorld,
  pairingWorld,
  TICKET_PEER,
  TICKET_PEER_NAME,
} from '../support/pairing-world.ts'

const settings = { pairingId: 'c0ffee00c0ffee00c0ffee00', ttlMs: 60_000, handshakeTimeoutMs: 10_000, maxWrongProofs: 3 }
const initiatorInput: PairingInput = { ...settings, alias: 'a', role: 'initiator', name: 'desk' }
const joinerInput: PairingInput = { ...settings, alias: 'b', role: 'joiner', name: 'laptop', peerId: TICKET_PEER }

/** Two joiners that may turn up with the ticket, and their names. */
const JOINERS: Record<string, string> = { 'peer-laptop-1': 'laptop-1', 'peer-laptop-2': 'laptop-2' }
const other = (peer: string) => Object.keys(JOINERS).find((p) => p !== peer) ?? ''
const nameOf = (peer: string) => JOINERS[peer] ?? ''

/** The invocation of `src` in `state` (remember runs in both roles' `saving`); a test below says when there is none. */
const invokeIn = (state: string, src: string) =>
  getStateNodes(pairingMachine.root)
    .find((n) => n.id === `pairing.${state}`)
    ?.invoke.find((i) => i.src === src)?.id ?? `(no ${src} in ${state})`
const DIAL = invokeIn('joiner.dialing', 'dial')
const HANDSHAKE = invokeIn('joiner.handshaking', 'handshake')
const REMEMBER = { initiator: invokeIn('initiator.saving', 'remember'), joiner: invokeIn('joiner.saving', 'remember') }
const ENDS: HandshakeEnd[] = ['gone', 'refused', 'busy', 'reset']
// the world ends the handshake: `end` says how (the machine reads only the error)
const handshakeFailed = (end: HandshakeEnd) => ({ ...errorEvent(HANDSHAKE, new Error(end)), end })
const timers = (names: string[]) => names.map((type) => ({ type }))

const key = (snapshot: AnyMachineSnapshot) => {
  const c = snapshot.context as PairingContext
  return JSON.stringify({ value: snapshot.value, wrongProofs: c.wrongProofs, peerId: c.peerId, failure: c.failure })
}

function perform(world: PairingWorld, event: EventObject) {
  const e = event as PairingEvent
  switch (e.type) {
    case 'pairing.cancel':
      return world.cancel()
    case 'pairing.joinerArrived':
      return world.arrive(e.peerId, nameOf(e.peerId))
    case 'pairing.proofChecked':
      return world.proofChecked(e.peerId, e.valid, e.name ?? '')
    case 'pairing.confirmed':
      return world.confirmed(e.peerId)
    case 'pairing.joinerLeft':
      return world.left(e.peerId)
  }
  const type = event.type
  if (type === doneEvent(DIAL, undefined).type) return world.reach()
  if (type === errorEvent(DIAL, new Error()).type) return world.unreachable()
  if (type === doneEvent(HANDSHAKE, undefined).type)
    return world.handshakeDone((event as unknown as { output: { peerName: string } }).output.peerName)
  if (type === errorEvent(HANDSHAKE, new Error()).type) return world.handshakeFails((event as unknown as { end: HandshakeEnd }).end)
  if (type === doneEvent(REMEMBER.initiator, undefined).type || type === doneEvent(REMEMBER.joiner, undefined).type) return world.saved()
  if (type === errorEvent(REMEMBER.initiator, new Error()).type || type === errorEvent(REMEMBER.joiner, new Error()).type)
    return world.saveFails()
  if (type.startsWith('xstate.after.ttl.')) return world.fire(settings.ttlMs)
  if (type.startsWith('xstate.after.handshakeTimeout.')) return world.fire(settings.handshakeTimeoutMs)
  throw new Error(`the world cannot produce ${type}`)
}

/** Reports about a joiner that is not the one in the handshake (a late one from an ended session): nothing may change. */
const stale = (peer: string): PairingEvent[] => [
  { type: 'pairing.proofChecked', peerId: peer, valid: true, name: nameOf(peer) },
  { type: 'pairing.proofChecked', peerId: peer, valid: false, name: nameOf(peer) },
  { type: 'pairing.confirmed', peerId: peer },
  { type: 'pairing.joinerLeft', peerId: peer, error: 'the stream was reset' },
]

const initiator: WorldModelSpec<PairingWorld> = {
  label: 'initiator',
  machine: pairingMachine,
  input: initiatorInput,
  key,
  // what the pairing service reports (src/actors/pairing/pairing-service.ts, answerJoiner in pair-protocol.ts)
  events: ({ snapshot, live, timers: armed }: ModelState) => {
    const c = snapshot.context as PairingContext
    const events: (PairingEvent | EventObject)[] = [{ type: 'pairing.cancel' }, ...timers(armed)]
    const joiner = c.peerId ?? ''
    if (snapshot.matches({ initiator: 'waiting' }))
      events.push(...Object.keys(JOINERS).map((peerId) => ({ type: 'pairing.joinerArrived', peerId }) as const))
    if (snapshot.matches({ initiator: 'verifying' })) {
      events.push(
        { type: 'pairing.proofChecked', peerId: joiner, valid: true, name: nameOf(joiner) },
        { type: 'pairing.proofChecked', peerId: joiner, valid: false, name: nameOf(joiner) },
        { type: 'pairing.joinerLeft', peerId: joiner, error: 'the stream was reset' },
        ...stale(other(joiner)),
      )
    }
    if (snapshot.matches({ initiator: 'confirming' })) {
      events.push(
        { type: 'pairing.confirmed', peerId: joiner },
        { type: 'pairing.joinerLeft', peerId: joiner, error: 'the stream was reset' },
        ...stale(other(joiner)),
      )
    }
    if (live.includes(REMEMBER.initiator)) {
      events.push(doneEvent(REMEMBER.initiator, undefined), errorEvent(REMEMBER.initiator, new Error('ENOSPC')))
      // the joiner's stream ends while we save (its own timeout): saving goes on
      events.push({ type: 'pairing.joinerLeft', peerId: joiner, error: 'the stream was reset' })
    }
    return events
  },
  bind: () => pairingWorld(initiatorInput),
  perform,
  invariants: pairingInvariants,
  always: pairingAlways,
}

const joiner: WorldModelSpec<PairingWorld> = {
  label: 'joiner',
  machine: pairingMachine,
  input: joinerInput,
  key,
  events: ({ live, timers: armed }: ModelState) => {
    const events: EventObject[] = [{ type: 'pairing.cancel' }, ...timers(armed)]
    if (live.includes(DIAL)) events.push(doneEvent(DIAL, undefined), errorEvent(DIAL, new Error('no route')))
    if (live.includes(HANDSHAKE)) events.push(doneEvent(HANDSHAKE, { peerName: TICKET_PEER_NAME }), ...ENDS.map(handshakeFailed))
    if (live.includes(REMEMBER.joiner)) events.push(doneEvent(REMEMBER.joiner, undefined), errorEvent(REMEMBER.joiner, new Error('ENOSPC')))
    return events
  },
  bind: () => pairingWorld(joinerInput),
  perform,
  invariants: pairingInvariants,
  always: pairingAlways,
}

describeWorldModel('pairing', initiator, joiner)

it('invokes dial, handshake and remember where the paths expect them', () => {
  expect([DIAL, HANDSHAKE, REMEMBER.initiator, REMEMBER.joiner].filter((id) => id.startsWith('(no '))).toEqual([])
})

describe('pairing machine: reports about another joiner than the one verifying', () => {
  for (const event of stale('peer-laptop-2')) {
    it(`${event.type}${'valid' in event ? ` (valid: ${event.valid})` : ''} from another peer changes nothing`, () => {
      const { world, machine, clock, attach } = pairingWorld(initiatorInput)
      const actor = createActor(machine, { input: initiatorInput, clock })
      attach(actor)
      actor.start()
      world.arrive('peer-laptop-1', 'laptop-1')
      const before = actor.getSnapshot()
      perform(world, event)
      const after = actor.getSnapshot()
      expect(after.value).toEqual(before.value)
      expect(after.context).toEqual(before.context)
      expect(world.penalties).toEqual([])
      expect(world.remembers).toEqual([])
      pairingInvariants['initiator.verifying']?.(world)
      actor.stop()
    })
  }
})
