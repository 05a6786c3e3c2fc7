import { describe, expect, it } from 'vitest'
import { createActor, fromPromise, waitFor } from 'xstate'
import { failureOf, pairingMachine, pairingStateName } from '../../src/machines/pairing/pairing.machine.ts'
import type { PairingInput } from '../../src/machines/pairing/pairing.types.ts'

/**
 * What the model tests cannot reach through their world: failure kinds no effect throws today, and
 * effects that reject with something that is not an Error (the machine must still say why).
 */

describe('failureOf: the failure kind an effect error names', () => {
  it.each([
    [{ failure: 'gone' }, 'gone'],
    [{ failure: 'refused' }, 'refused'],
    [{ failure: 'unreachable' }, 'unreachable'],
    [{ failure: 'timeout' }, 'timeout'],
    [{ failure: 'busy' }, 'error'],
    [{ failure: 'error' }, 'error'],
    [new Error('stream reset'), 'error'],
    ['a thrown string', 'error'],
    [null, 'error'],
    [undefined, 'error'],
  ])('%j -> %s', (error, kind) => {
    expect(failureOf(error)).toBe(kind)
  })
})

describe('pairingStateName: the leaf a pairing.state push names', () => {
  it.each([
    ['paired', 'paired'],
    [{ initiator: 'waiting' }, 'waiting'],
    [{ joiner: 'handshaking' }, 'handshaking'],
    [{ a: { b: 'deep' } }, 'deep'],
  ])('%j -> %s', (value, name) => {
    expect(pairingStateName(value)).toBe(name)
  })
})

const joinerInput: PairingInput = {
  alias: 'b',
  pairingId: 'c0ffee00c0ffee00c0ffee00',
  role: 'joiner',
  name: 'laptop',
  peerId: 'peer-desk',
  ttlMs: 60_000,
  handshakeTimeoutMs: 10_000,
  maxWrongProofs: 3,
}

/** A joiner whose effects reject with `thrown` at the step `failing`, and succeed before it. */
function joiner(failing: 'dial' | 'handshake' | 'remember', thrown: unknown) {
  const fail = async (name: string) => {
    if (name === failing) throw thrown
  }
  return createActor(
    pairingMachine.provide({
      actors: {
        dial: fromPromise(() => fail('dial')),
        handshake: fromPromise(async () => {
          await fail('handshake')
          return { peerName: 'desk' }
        }),
        remember: fromPromise(() => fail('remember')),
      },
    }),
    { input: joinerInput },
  )
}

describe('a joiner whose effect rejects with something that is not an Error', () => {
  it.each([
    ['dial', 'unreachable', 'cannot reach the device: no route'],
    ['handshake', 'error', 'no route'],
    ['remember', 'error', 'cannot save the paired peer: no route'],
  ] as const)('%s: failed, failure %s, told %j', async (failing, failure, error) => {
    const actor = joiner(failing, 'no route')
    actor.start()
    const done = await waitFor(actor, (s) => s.status === 'done')
    expect(done.value).toBe('failed')
    expect(done.context.failure).toBe(failure)
    expect(done.context.error).toBe(error)
  })
})
