import { describe, expect, it } from 'vitest'
import { createActor, fromCallback, SimulatedClock, waitFor } from 'xstate'
import { jitterFactor, peerMachine, peerStatus, retryDelay } from '../../src/machines/peer/peer.machine.ts'
import type { BackoffSettings, DialResult, PeerContext, PeerEvent, PeerInput } from '../../src/machines/peer/peer.types.ts'
import { controlledPromise } from '../support/fakes.ts'

// the shipped defaults (config.ts): first retry from 160 ms, cap 30 s, 3 explicit tries 1 s apart
const defaults: BackoffSettings = { initialMs: 160, maxMs: 30_000, explicitRetryMs: 1_000, explicitTries: 3 }
const PEER = '12D3KooWPeerUnderTest'
const peerIds = Array.from({ length: 200 }, (_, i) => `12D3KooWSynthetic${i.toString(36).padStart(4, '0')}`)

/** A peer actor with fake dial and hang-up and a simulated clock: the test settles every dial. */
function start(extra: Partial<PeerInput> = {}, backoff: BackoffSettings = defaults) {
  const clock = new SimulatedClock()
  const dial = controlledPromise<DialResult, { alias: string; peerId: string }>('dial')
  const hangUp = controlledPromise<void, { alias: string; peerId: string }>('hangUp')
  // each sync the machine runs: its way to report back, and whether it was stopped (aborted)
  const syncs: Array<{ report: (event: PeerEvent) => void; stopped: boolean }> = []
  const sync = fromCallback<PeerEvent, { alias: string; peerId: string }>(({ sendBack }) => {
    const run = { report: sendBack, stopped: false }
    syncs.push(run)
    return () => {
      run.stopped = true
    }
  })
  const actor = createActor(peerMachine.provide({ actors: { dial: dial.logic, hangUp: hangUp.logic, sync } }), {
    input: { alias: 'a', peerId: PEER, backoff, ...extra },
    clock,
  })
  actor.start()
  const ctx = () => actor.getSnapshot().context as PeerContext
  /** Settle the pending dial and wait until the machine has left `connecting`. */
  const settleDial = async (outcome: Error | DialResult) => {
    if (outcome instanceof Error) dial.reject(outcome)
    else dial.resolve(outcome)
    await waitFor(actor, (s) => !s.matches('connecting'))
  }
  return { actor, clock, dial, hangUp, syncs, ctx, settleDial }
}

describe('retryDelay', () => {
  it('first automatic retry comes under 250 ms for every peer, with the default settings', () => {
    const delays = peerIds.map((peerId) => retryDelay({ peerId, failures: 1, backoff: defaults }))
    expect(Math.max(...delays)).toBeLessThan(250)
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(defaults.initialMs / 2)
    // jitter spreads peers that failed together
    expect(new Set(delays).size).toBeGreaterThan(20)
  })

  it('grows exponentially and is capped at maxMs', () => {
    for (const peerId of peerIds.slice(0, 20)) {
      const d = (failures: number) => retryDelay({ peerId, failures, backoff: defaults })
      // doubling per failure outweighs the jitter (x0.5 to x1.5) two steps apart
      expect(d(3)).toBeGreaterThan(d(1))
      expect(d(5)).toBeGreaterThan(d(3))
      for (const failures of [12, 20, 60, 1_000]) expect(d(failures)).toBe(defaults.maxMs)
    }
    expect(retryDelay({ peerId: PEER, failures: 30, backoff: { ...defaults, maxMs: 5_000 } })).toBe(5_000)
  })

  it('jitter stays within [0.5, 1.5)', () => {
    for (const peerId of peerIds) {
      for (const attempt of [0, 1, 7]) {
        const j = jitterFactor(peerId, attempt)
        expect(j).toBeGreaterThanOrEqual(0.5)
        expect(j).toBeLessThan(1.5)
      }
    }
  })
})

describe('peer machine', () => {
  it('an explicit connect makes its tries explicitRetryMs apart, then fails with the last error', async () => {
    const { actor, clock, dial, ctx, settleDial } = start()
    actor.send({ type: 'peer.connect' })
    expect(actor.getSnapshot().value).toBe('connecting')
    for (let attempt = 1; attempt <= defaults.explicitTries; attempt++) {
      expect(dial.calls.length).toBe(attempt)
      await settleDial(new Error(`connection refused #${attempt}`))
      if (attempt === defaults.explicitTries) break
      expect(actor.getSnapshot().value).toBe('retrying')
      clock.increment(defaults.explicitRetryMs - 1)
      expect(dial.calls.length, 'no try before the pause is over').toBe(attempt)
      clock.increment(1)
    }
    expect(actor.getSnapshot().value).toBe('failed')
    expect(peerStatus(actor.getSnapshot().value)).toBe('failed')
    expect(ctx().lastError).toBe('connection refused #3')
    expect(ctx().failures).toBe(3)
    // failed is final for this connect: no dial without a new request
    clock.increment(10 * defaults.maxMs)
    expect(dial.calls.length).toBe(defaults.explicitTries)
    actor.send({ type: 'peer.connect', tries: 1 })
    expect(dial.calls.length).toBe(4)
    await settleDial(new Error('still refused'))
    expect(actor.getSnapshot().value).toBe('failed')
  })

  it('a successful try ends the explicit connect, clearing the error', async () => {
    const { actor, clock, ctx, settleDial } = start()
    actor.send({ type: 'peer.connect' })
    await settleDial(new Error('timeout'))
    clock.increment(defaults.explicitRetryMs)
    await settleDial({ connectionType: 'direct', at: 42 })
    expect(actor.getSnapshot().matches({ connected: 'idle' })).toBe(true)
    expect(ctx()).toMatchObject({ connectionType: 'direct', lastError: null, failures: 0, triesLeft: 0, since: 42 })
  })

  it('a wanted peer dials at once and backs off exponentially while unreachable', async () => {
    const { actor, clock, dial, ctx, settleDial } = start({ known: true, autoConnect: true })
    expect(actor.getSnapshot().value).toBe('connecting')
    const waits: number[] = []
    for (let failures = 1; failures <= 12; failures++) {
      await settleDial(new Error('unreachable'))
      expect(actor.getSnapshot().value).toBe('backoff')
      expect(peerStatus(actor.getSnapshot().value)).toBe('backoff')
      const wait = retryDelay(ctx())
      waits.push(wait)
      clock.increment(wait - 1)
      expect(dial.calls.length).toBe(failures)
      clock.increment(1)
      expect(dial.calls.length).toBe(failures + 1)
    }
    expect(waits[0]).toBeLessThan(250)
    expect(waits.at(-1)).toBe(defaults.maxMs)
  })

  it('a wanted peer that drops its connection retries in under 250 ms', async () => {
    const { actor, clock, dial, ctx, settleDial } = start({ known: true, autoConnect: true })
    await settleDial({ connectionType: 'direct', at: 1 })
    actor.send({ type: 'peer.disconnected', at: 2 })
    expect(actor.getSnapshot().value).toBe('backoff')
    expect(ctx().connectionType).toBe('none')
    clock.increment(249)
    expect(dial.calls.length).toBe(2)
  })

  it('a peer that is not wanted goes back to disconnected when its connection drops', async () => {
    const { actor, clock, dial } = start()
    actor.send({ type: 'peer.connected', connectionType: 'relay', at: 1 })
    actor.send({ type: 'peer.disconnected', at: 2 })
    expect(actor.getSnapshot().value).toBe('disconnected')
    clock.increment(10 * defaults.maxMs)
    expect(dial.calls.length).toBe(0)
  })

  it("a connect then a disconnect during a hang-up: the client's last word wins, nothing is dialled", async () => {
    const { actor, clock, dial, hangUp, ctx } = start()
    actor.send({ type: 'peer.connected', connectionType: 'direct', at: 1 })
    actor.send({ type: 'peer.disconnect' })
    actor.send({ type: 'peer.connect' })
    actor.send({ type: 'peer.disconnect' })
    hangUp.resolve()
    await waitFor(actor, (s) => s.matches('disconnected'))
    clock.increment(10 * defaults.maxMs)
    expect(dial.calls.length).toBe(0)
    expect(ctx()).toMatchObject({ held: true, triesLeft: 0 })
  })

  it('stays held after a client disconnect, even while wanted, until the next connect', async () => {
    const { actor, clock, dial, hangUp, ctx, settleDial } = start({ known: true, autoConnect: true })
    await settleDial({ connectionType: 'direct', at: 1 })
    actor.send({ type: 'peer.disconnect' })
    expect(actor.getSnapshot().value).toBe('disconnecting')
    expect(hangUp.calls.length).toBe(1)
    actor.send({ type: 'peer.disconnected', at: 2 })
    hangUp.resolve()
    await waitFor(actor, (s) => s.matches('disconnected'))
    expect(ctx()).toMatchObject({ held: true, connectionType: 'none', known: true, autoConnect: true })
    clock.increment(10 * defaults.maxMs)
    expect(dial.calls.length, 'a held peer is never dialled by itself').toBe(1)
    // an incoming connection is still accepted; its loss does not make the peer wanted again
    actor.send({ type: 'peer.connected', connectionType: 'direct', at: 3 })
    actor.send({ type: 'peer.disconnected', at: 4 })
    expect(actor.getSnapshot().value).toBe('disconnected')
    actor.send({ type: 'peer.connect' })
    expect(ctx().held).toBe(false)
    expect(dial.calls.length).toBe(2)
  })

  it('a connect during an automatic dial gets the explicit tries', async () => {
    const { actor, clock, dial, settleDial } = start({ known: true, autoConnect: true }, { ...defaults, explicitTries: 2 })
    actor.send({ type: 'peer.connect' })
    await settleDial(new Error('refused'))
    expect(actor.getSnapshot().value, 'the second explicit try follows after the fixed pause').toBe('retrying')
    clock.increment(defaults.explicitRetryMs)
    expect(dial.calls.length).toBe(2)
    await settleDial(new Error('refused'))
    // out of explicit tries, but still wanted: the automatic retries take over
    expect(actor.getSnapshot().value).toBe('backoff')
  })

  it('a failed peer that becomes wanted dials again by itself', async () => {
    const { actor, dial, settleDial } = start({}, { ...defaults, explicitTries: 1 })
    actor.send({ type: 'peer.connect' })
    await settleDial(new Error('refused'))
    expect(actor.getSnapshot().value).toBe('failed')
    actor.send({ type: 'peer.update', known: true, autoConnect: true, at: 1_000 })
    expect(actor.getSnapshot().value).toBe('connecting')
    expect(dial.calls.length).toBe(2)
  })

  it('backoff stops when the peer stops being wanted', async () => {
    const { actor, clock, dial, settleDial } = start({ known: true, autoConnect: true })
    await settleDial(new Error('refused'))
    actor.send({ type: 'peer.update', autoConnect: false })
    expect(actor.getSnapshot().value).toBe('disconnected')
    clock.increment(10 * defaults.maxMs)
    expect(dial.calls.length).toBe(1)
  })

  it('added peers are wanted whether known or not; removing the mark stops the retries', async () => {
    const { actor, clock, dial, settleDial } = start()
    actor.send({ type: 'peer.setAdded', added: true })
    expect(actor.getSnapshot().value).toBe('connecting')
    await settleDial(new Error('refused'))
    expect(actor.getSnapshot().value).toBe('backoff')
    actor.send({ type: 'peer.setAdded', added: false })
    expect(actor.getSnapshot().value).toBe('disconnected')
    clock.increment(10 * defaults.maxMs)
    expect(dial.calls.length).toBe(1)
  })

  it('a direct connection replaces a relayed one in connectionType', () => {
    const { actor, ctx, syncs } = start()
    actor.send({ type: 'peer.connected', connectionType: 'relay', at: 1 })
    expect(ctx().connectionType).toBe('relay')
    actor.send({ type: 'peer.connectionType', connectionType: 'direct' })
    expect(ctx().connectionType).toBe('direct')
    // a peer that is not known is never synced
    expect(peerStatus(actor.getSnapshot().value)).toBe('connected')
    expect(syncs).toHaveLength(0)
  })

  it('a known peer syncs on arrival, reports progress, sets lastSyncAt, syncs again after a change notice, and retries a failed sync with backoff', () => {
    const { actor, clock, ctx, syncs } = start({ known: true, autoConnect: false })
    actor.send({ type: 'peer.connected', connectionType: 'direct', at: 1 })
    expect(peerStatus(actor.getSnapshot().value)).toBe('syncing')
    expect(ctx().syncProgress).toEqual({ blocksFetched: 0, blocksTotal: 0, bytes: 0 })
    syncs[0]?.report({ type: 'peer.syncProgress', progress: { blocksFetched: 3, blocksTotal: 10, bytes: 300 } })
    expect(ctx().syncProgress).toEqual({ blocksFetched: 3, blocksTotal: 10, bytes: 300 })
    // a change notice during a sync is kept: another sync follows this one
    actor.send({ type: 'peer.filesChanged' })
    syncs[0]?.report({ type: 'peer.syncDone', at: 77 })
    expect(ctx().lastSyncAt).toBe(77)
    expect(syncs).toHaveLength(2)
    expect(peerStatus(actor.getSnapshot().value)).toBe('syncing')
    syncs[1]?.report({ type: 'peer.syncFailed', error: 'peer went quiet' })
    expect(peerStatus(actor.getSnapshot().value)).toBe('connected')
    expect(ctx()).toMatchObject({ lastSyncAt: 77, lastError: 'sync: peer went quiet', syncProgress: null, syncFailures: 1 })
    // a failed sync is tried again after the backoff a first failure gets, not before
    const first = retryDelay({ peerId: ctx().peerId, failures: 1, backoff: defaults })
    clock.increment(first - 1)
    expect(syncs).toHaveLength(2)
    clock.increment(1)
    expect(syncs).toHaveLength(3)
    syncs[2]?.report({ type: 'peer.syncFailed', error: 'peer went quiet' })
    // a change notice does not wait for the backoff
    expect(ctx().syncFailures).toBe(2)
    actor.send({ type: 'peer.filesChanged' })
    expect(syncs).toHaveLength(4)
    syncs[3]?.report({ type: 'peer.syncDone', at: 90 })
    expect(ctx()).toMatchObject({ lastSyncAt: 90, lastError: null, syncFailures: 0 })
    // done: nothing more to sync, nothing armed
    clock.increment(10 * defaults.maxMs)
    expect(syncs).toHaveLength(4)
  })

  it('becoming known while connected starts a sync; a disconnect or a forget aborts it', () => {
    const { actor, syncs } = start()
    actor.send({ type: 'peer.connected', connectionType: 'direct', at: 1 })
    actor.send({ type: 'peer.update', known: true, name: 'laptop', at: 5 })
    expect(peerStatus(actor.getSnapshot().value)).toBe('syncing')
    actor.send({ type: 'peer.update', known: false })
    expect(syncs[0]?.stopped).toBe(true)
    expect(peerStatus(actor.getSnapshot().value)).toBe('connected')
    actor.send({ type: 'peer.update', known: true, autoConnect: true })
    expect(syncs).toHaveLength(2)
    actor.send({ type: 'peer.disconnected', at: 9 })
    expect(syncs[1]?.stopped).toBe(true)
    // known with autoConnect: wanted, so retried
    expect(peerStatus(actor.getSnapshot().value)).toBe('backoff')
  })

  it('dates addedAt when an update makes the peer known, and keeps it afterwards', () => {
    const { actor, ctx } = start()
    expect(ctx().addedAt).toBeNull()
    actor.send({ type: 'peer.update', known: true, name: 'laptop', at: 1_700_000_000_000 })
    expect(ctx()).toMatchObject({ known: true, name: 'laptop', addedAt: 1_700_000_000_000 })
    actor.send({ type: 'peer.update', known: true, at: 1_800_000_000_000 })
    expect(ctx().addedAt).toBe(1_700_000_000_000)
  })
})
