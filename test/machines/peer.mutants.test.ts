import { describe, expect, it } from 'vitest'
import { createActor, createMachine } from 'xstate'
import { checkStatusTags, jitterFactor, peerMachine, peerPublicContext, peerStatusOfTags } from '../../src/machines/peer/peer.machine.ts'
import type { PeerInput } from '../../src/machines/peer/peer.types.ts'

// The peer machine's edges that its model test does not reach (found by npm run mutate): what a
// peer starts from, how a status is read from tags and checked at load, the jitter's spread.
const PEER = '12D3KooWPeer'
const backoff = { initialMs: 100, maxMs: 400, explicitRetryMs: 50, explicitTries: 2 }
const context = (input: Partial<PeerInput> = {}) =>
  createActor(peerMachine, { input: { alias: 'a', peerId: PEER, backoff, ...input } }).getSnapshot().context

describe('peer edges', () => {
  it('starts unnamed, without ticket, sync or connection, not known, from its input otherwise', () => {
    expect(context()).toMatchObject({
      name: '',
      ticket: null,
      lastSyncAt: null,
      addedAt: null,
      known: false,
      autoConnect: false,
      connectionType: 'none',
      syncProgress: null,
      syncDue: false,
      lastError: null,
    })
    // a known peer connects automatically unless told otherwise
    expect(context({ known: true }).autoConnect).toBe(true)
    expect(context({ known: true, autoConnect: false }).autoConnect).toBe(false)
    expect(context({ name: 'laptop', ticket: 't', lastSyncAt: 7, addedAt: 3 })).toMatchObject({
      name: 'laptop',
      ticket: 't',
      lastSyncAt: 7,
      addedAt: 3,
    })
  })

  it('keeps its ticket through an update without one; shows no ticket when it has none', () => {
    const actor = createActor(peerMachine, { input: { alias: 'a', peerId: PEER, backoff, ticket: 't1' } }).start()
    actor.send({ type: 'peer.update', name: 'n' })
    expect(actor.getSnapshot().context.ticket).toBe('t1')
    actor.send({ type: 'peer.update', ticket: 't2' })
    expect(actor.getSnapshot().context.ticket).toBe('t2')
    actor.stop()
    expect(peerPublicContext(context())).toMatchObject({ peerId: PEER, ticket: undefined, sync: null, since: 0 })
    expect('ticket' in peerPublicContext(context())).toBe(true)
    expect(peerPublicContext(context({ ticket: 't' })).ticket).toBe('t')
  })

  it('spreads retries by the whole peer id and the attempt', () => {
    expect(jitterFactor(PEER, 1)).toBe(0.546)
    expect(jitterFactor(PEER, 2)).toBeCloseTo(1.261, 10)
    expect(jitterFactor('a', 0)).toBe(0.72)
  })
})

describe('peer status tags', () => {
  it('reads the one status:<name> tag that names a status, ignoring other tags', () => {
    expect(peerStatusOfTags(['other', 'status:backoff'])).toBe('backoff')
    expect(peerStatusOfTags(['status:bogus', 'status:failed'])).toBe('failed')
    // a tag that merely ends like a status is not one
    expect(() => peerStatusOfTags(['abcdefgconnected'])).toThrow('no status tag among ["abcdefgconnected"]')
    expect(() => peerStatusOfTags([])).toThrow(/no status tag among \[\]/)
  })

  const machine = (states: Record<string, unknown>) => createMachine({ id: 'm', initial: Object.keys(states)[0], states } as never).root

  it('accepts a machine whose every atomic state has one status tag, its own or an ancestor’s', () => {
    expect(() => checkStatusTags(peerMachine.root)).not.toThrow()
    expect(() =>
      checkStatusTags(
        machine({
          a: { tags: ['status:connected', 'other'], initial: 'x', states: { x: {}, y: { initial: 'z', states: { z: {} } } } },
          b: { tags: ['status:failed'] },
        }),
      ),
    ).not.toThrow()
  })

  it('refuses a state without a status tag, with two, or with an unknown one', () => {
    expect(() => checkStatusTags(machine({ a: { tags: ['status:connected'] }, b: {} }))).toThrow(
      'peer state m.b needs exactly one status tag, has []',
    )
    expect(() =>
      checkStatusTags(machine({ a: { tags: ['status:connected'], initial: 'x', states: { x: { tags: ['status:syncing'] } } } })),
    ).toThrow(/m\.a\.x needs exactly one status tag/)
    expect(() => checkStatusTags(machine({ a: { tags: ['status:bogus'] } }))).toThrow(/no status tag/)
    expect(() => checkStatusTags(machine({ a: { initial: 'x', states: { x: { initial: 'y', states: { y: {} } } } } }))).toThrow(
      /m\.a\.x\.y/,
    )
  })
})
