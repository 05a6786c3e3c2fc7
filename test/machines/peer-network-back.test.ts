import { describe, expect, it } from 'vitest'
import { createActor, SimulatedClock, waitFor } from 'xstate'
import { nodeMachine } from '../../src/machines/node/node.machine.ts'
import { peerMachine, retryDelay } from '../../src/machines/peer/peer.machine.ts'
import type { BackoffSettings, DialResult, PeerContext, PeerInput } from '../../src/machines/peer/peer.types.ts'
import { peersMachine } from '../../src/machines/peers/peers.machine.ts'
import { controlledPromise } from '../support/fakes.ts'

/**
 * Issue 14's lab found reconnects after a healed partition bounded by the backoff cap (30 s): a peer
 * that failed for a minute waited up to 45 s after the network came back. `peer.networkBack` (sent
 * to every peer actor of a node when one of its unreachable peers connects again) makes a peer in
 * backoff retry at once.
 */
const defaults: BackoffSettings = { initialMs: 160, maxMs: 30_000, explicitRetryMs: 1_000, explicitTries: 3 }
const PEER = '12D3KooWPeerUnderTest'

function start(extra: Partial<PeerInput> = {}) {
  const clock = new SimulatedClock()
  const dial = controlledPromise<DialResult, { alias: string; peerId: string }>('dial')
  const actor = createActor(peerMachine.provide({ actors: { dial: dial.logic } }), {
    input: { alias: 'a', peerId: PEER, backoff: defaults, ...extra },
    clock,
  })
  actor.start()
  const ctx = () => actor.getSnapshot().context as PeerContext
  return { actor, clock, dial, ctx }
}

describe('peer.networkBack', () => {
  it('a peer in backoff at the cap retries at once, and a failed retry goes on backing off', async () => {
    const { actor, clock, dial, ctx } = start()
    actor.send({ type: 'peer.setAdded', added: true })
    // fail until the delay is at the cap
    for (let i = 0; i < 10; i++) {
      await waitFor(actor, (s) => s.matches('connecting'))
      dial.pending().reject(new Error('EHOSTUNREACH'))
      await waitFor(actor, (s) => s.matches('backoff'))
      if (i < 9) clock.increment(retryDelay(ctx()))
    }
    expect(retryDelay(ctx())).toBe(defaults.maxMs)
    const dials = dial.calls.length
    actor.send({ type: 'peer.networkBack' })
    expect(actor.getSnapshot().value).toBe('connecting')
    expect(dial.calls.length).toBe(dials + 1)
    dial.pending().reject(new Error('still unreachable'))
    await waitFor(actor, (s) => s.matches('backoff'))
    expect(ctx().failures).toBe(11)
    actor.send({ type: 'peer.networkBack' })
    dial.pending().resolve({ connectionType: 'direct', at: 1 })
    await waitFor(actor, (s) => s.matches('connected'))
    expect(ctx().failures).toBe(0)
  })

  it('changes nothing outside backoff: disconnected, connecting, connected', async () => {
    const { actor, dial } = start()
    actor.send({ type: 'peer.networkBack' })
    expect(actor.getSnapshot().value).toBe('disconnected')
    expect(dial.calls).toHaveLength(0)
    actor.send({ type: 'peer.connect' })
    actor.send({ type: 'peer.networkBack' })
    expect(dial.calls).toHaveLength(1)
    dial.pending().resolve({ connectionType: 'direct', at: 1 })
    await waitFor(actor, (s) => s.matches('connected'))
    actor.send({ type: 'peer.networkBack' })
    expect(actor.getSnapshot().matches('connected')).toBe(true)
    expect(dial.calls).toHaveLength(1)
  })

  it('a shard hands peers.broadcast to each of its peer actors', () => {
    const received: string[] = []
    const spy = peerMachine.provide({
      actions: {
        persist: () => {},
      },
    })
    const shard = createActor(
      peersMachine.provide({
        actors: {
          peer: spy.provide({
            actors: {
              dial: controlledPromise<DialResult, { alias: string; peerId: string }>('dial').logic,
            },
          }),
        },
      }),
      {
        input: { alias: 'a', shard: 0 },
        inspect: (ev) => {
          if (ev.type === '@xstate.event' && ev.event.type === 'peer.networkBack')
            received.push((ev.actorRef as unknown as { id: string }).id)
        },
      },
    )
    shard.start()
    for (const peerId of ['p1', 'p2', 'p3']) {
      shard.send({ type: 'peers.route', peerId, spawn: true, input: { alias: 'a', peerId, backoff: defaults } })
    }
    shard.send({ type: 'peers.broadcast', event: { type: 'peer.networkBack' } })
    expect(received.sort()).toEqual(['peer:a:p1', 'peer:a:p2', 'peer:a:p3'])
  })

  it('the node machine accepts peers.broadcast while running', () => {
    expect(JSON.stringify(nodeMachine.config)).toContain('peers.broadcast')
  })
})
