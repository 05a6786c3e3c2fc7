import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'
import { teachAddress } from '../support/peers.ts'
import type { Ack } from './support.ts'

const PROTOCOL = '/channel-actor/1.0.0'
const WAIT_MS = 30_000
/** Short, so the channel goes idle and is forgotten within the test. */
const IDLE_MS = 1_000
const RETRY_WINDOW_MS = 2_000

interface Snapshot {
  systemId: string
  kind: string
  parent: string | null
  value: unknown
  status: string
  context: Record<string, unknown>
}

describe('direct-message channels are actors', () => {
  let a: TestDaemon
  let b: TestDaemon
  let ca: SwitchboardClient
  let cb: SwitchboardClient

  beforeAll(async () => {
    const settings = { messageIdleMs: IDLE_MS, messageRetryWindowMs: RETRY_WINDOW_MS }
    ;[a, b] = await Promise.all([startTestDaemon(settings), startTestDaemon(settings)])
    teachAddress(a, b)
    teachAddress(b, a)
    ;[ca, cb] = await Promise.all([a.client(), b.client()])
    await ca.call('start', { protocol: PROTOCOL })
    await cb.call('start', { protocol: PROTOCOL })
  })
  afterAll(async () => {
    await Promise.allSettled([a?.destroy(), b?.destroy()])
  })

  it('is listed while messages flow, goes idle after messageIdleMs, and is forgotten (closed) after that', async () => {
    const systemId = `channel:peer-a:${b.peerId}:${PROTOCOL}`
    // every change of A's channel actor, as a client watching it sees it
    const { subscription } = await ca.call<{ subscription: string }>('actors.subscribe', { prefix: 'channel:' })
    const values: unknown[] = []
    let stopped = false
    ca.on<Snapshot & { subscription: string }>('actor.snapshot', (s) => {
      if (s.subscription === subscription && s.systemId === systemId) values.push(s.value)
    })
    ca.on<{ subscription: string; systemId: string }>('actor.stopped', (s) => {
      if (s.subscription === subscription && s.systemId === systemId) stopped = true
    })

    const events: string[] = []
    const offInspect = a.core.actors.registry.onInspect((e) => {
      if (e.type === '@xstate.event' && (e.actorRef as { systemId?: string }).systemId === systemId) events.push(e.event.type)
    })

    for (let n = 0; n < 3; n++) {
      const acked = ca.waitFor<Ack>('ack', (x) => x.ack === n, WAIT_MS)
      await ca.call('send', { peer: b.peerId, protocol: PROTOCOL, data: { secret: `payload ${n}` }, ack: n })
      expect(await acked).toEqual({ ack: n, delivered: true })
    }

    // on an open channel a message costs its actor nothing: no event reaches it
    expect(events).toContain('channel.wanted')
    const before = events.length
    const burst = Array.from({ length: 50 }, (_, i) => ca.waitFor<Ack>('ack', (x) => x.ack === 100 + i, WAIT_MS))
    await Promise.all(Array.from({ length: 50 }, (_, i) => ca.call('send', { peer: b.peerId, protocol: PROTOCOL, data: i, ack: 100 + i })))
    expect((await Promise.all(burst)).every((x) => x.delivered)).toBe(true)
    offInspect()
    expect(events.slice(before)).toEqual([])

    const { actors } = await ca.call<{ actors: Snapshot[] }>('actors.list', { prefix: 'channel:peer-a:' })
    expect(actors).toHaveLength(1)
    const [channel] = actors
    expect(channel).toMatchObject({ systemId, kind: 'channel', parent: 'node:peer-a', value: 'open', status: 'active' })
    expect(channel?.context).toEqual({
      alias: 'peer-a',
      peerId: b.peerId,
      protocol: PROTOCOL,
      failures: 0,
      lastError: null,
      streams: 1,
    })
    // no payload ever leaves in a snapshot
    expect(JSON.stringify(actors)).not.toMatch(/payload|secret/)
    // B's side of the pair: the stream A opened carries B's messages too
    const atB = await cb.call<{ actors: Snapshot[] }>('actors.list', { prefix: 'channel:peer-a:' })
    expect(atB.actors.map((s) => [s.systemId, s.value])).toEqual([[`channel:peer-a:${a.peerId}:${PROTOCOL}`, 'open']])

    // A closes its idle stream after messageIdleMs: idle; with no stream left it is forgotten
    await vi.waitFor(() => expect(a.core.actors.registry.get(systemId)?.value).toBe('idle'), { timeout: WAIT_MS, interval: 50 })
    await vi.waitFor(() => expect(stopped).toBe(true), { timeout: WAIT_MS, interval: 50 })
    // one push per change of the client view: the state, or its context (streams) within a state
    expect(values.filter((v, i) => v !== values[i - 1])).toEqual(['idle', 'opening', 'open', 'idle', 'closed'])
    expect((await ca.call<{ actors: Snapshot[] }>('actors.list', { prefix: 'channel:peer-a:' })).actors).toEqual([])
    // B forgets its side too once A's stream is gone
    await vi.waitFor(() => expect(b.core.actors.registry.list('channel:')).toEqual([]), { timeout: WAIT_MS, interval: 50 })

    // the next message starts a fresh channel
    const again = ca.waitFor<Ack>('ack', (x) => x.ack === 10, WAIT_MS)
    await ca.call('send', { peer: b.peerId, protocol: PROTOCOL, data: 'again', ack: 10 })
    expect(await again).toEqual({ ack: 10, delivered: true })
    expect(a.core.actors.registry.get(systemId)?.value).toBe('open')
  })
})
