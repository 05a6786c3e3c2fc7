import { describe, expect, it } from 'vitest'
import { createActor, SimulatedClock, waitFor } from 'xstate'
import { nodeMachine } from '../../src/machines/node/node.machine.ts'
import { NETWORK_BACK_YIELD_MS, peerMachine, peerStatusOfTags, retryDelay } from '../../src/machines/peer/peer.machine.ts'
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

  describe('when both ends of a pair heard the network come back', () => {
    // from the peer's side too: the end with the higher peer id waits for the other's dial
    async function inBackoff(localPeerId: string) {
      const started = start()
      started.actor.send({ type: 'peer.setAdded', added: true })
      await waitFor(started.actor, (s) => s.matches('connecting'))
      started.dial.pending().reject(new Error('EHOSTUNREACH'))
      await waitFor(started.actor, (s) => s.matches('backoff'))
      started.actor.send({ type: 'peer.networkBack', localPeerId })
      return started
    }
    const status = (actor: { getSnapshot(): { tags: Set<string> } }) => peerStatusOfTags(actor.getSnapshot().tags)

    it('the lower id dials at once', async () => {
      const { actor, dial } = await inBackoff('12D3KooWAaLocalNode')
      expect(actor.getSnapshot().value).toBe('connecting')
      expect(dial.calls).toHaveLength(2)
    })

    it("the higher id takes the peer's connection and dials nothing", async () => {
      const { actor, dial } = await inBackoff('12D3KooWZzLocalNode')
      expect(actor.getSnapshot().value).toBe('yielding')
      expect(status(actor)).toBe('backoff')
      actor.send({ type: 'peer.connected', connectionType: 'direct', at: 2 })
      expect(actor.getSnapshot().value).toMatchObject({ connected: 'idle' })
      expect(dial.calls).toHaveLength(1)
    })

    it('the higher id dials itself when no connection came within the wait', async () => {
      const { actor, dial, clock } = await inBackoff('12D3KooWZzLocalNode')
      clock.increment(NETWORK_BACK_YIELD_MS - 1)
      expect(dial.calls).toHaveLength(1)
      clock.increment(1)
      expect(actor.getSnapshot().value).toBe('connecting')
      expect(dial.calls).toHaveLength(2)
    })
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
            // by system id: a peer actor's child id is its slot in the shard
            received.push((ev.actorRef as unknown as { systemId: string }).systemId)
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
