import { peerIdFromString } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import type { NodeHandle } from '../../src/p2p/node-factory.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'
import { codeOf, teachAddress } from '../support/peers.ts'
import { startRawNode } from '../support/raw-node.ts'
import { type Ack, goFrame, openRawStream, type PeerData } from './support.ts'

const WAIT_MS = 30_000

/** Send and wait for the message's `ack` push. */
async function sendAcked(client: SwitchboardClient, peer: string, protocol: string, data: unknown, ack: number): Promise<Ack> {
  const pushed = client.waitFor<Ack>('ack', (a) => a.ack === ack, WAIT_MS)
  expect(await client.call('send', { peer, protocol, data, ack })).toBeNull()
  return pushed
}

/** Streams of `protocol` that `from`'s peer-a still holds on its connections to `to`, in either direction. */
function streamsTo(from: TestDaemon, to: TestDaemon, protocol: string) {
  const libp2p = from.core.nodes.handle('peer-a').libp2p
  return libp2p.getConnections(peerIdFromString(to.peerId)).flatMap((c) => c.streams.filter((s) => s.protocol === protocol))
}

describe('direct messages between two daemons', () => {
  let a: TestDaemon
  let b: TestDaemon
  let ca: SwitchboardClient
  let cb: SwitchboardClient

  beforeAll(async () => {
    // a short idle time lets the idle-close test run quickly; nothing else depends on it
    ;[a, b] = await Promise.all([startTestDaemon({ messageIdleMs: 2_000 }), startTestDaemon({ messageIdleMs: 2_000 })])
    teachAddress(a, b)
    teachAddress(b, a)
    ;[ca, cb] = await Promise.all([a.client(), b.client()])
  })
  afterAll(async () => {
    await Promise.allSettled([a?.destroy(), b?.destroy()])
  })

  it('delivers both ways: peerData carries the sender, protocol and data; the ack says delivered', async () => {
    await ca.call('start', { protocol: '/chat/1.0.0' })
    await cb.call('start', { protocol: '/chat/1.0.0' })

    const atB = cb.waitFor<PeerData>('peerData', (p) => p.protocol === '/chat/1.0.0', WAIT_MS)
    const data = { text: 'hello B', n: [1, 2.5, null], nested: { ok: true, s: 'ü €' } }
    expect(await sendAcked(ca, b.peerId, '/chat/1.0.0', data, 0)).toEqual({ ack: 0, delivered: true })
    expect(await atB).toEqual({ peer: a.peerId, protocol: '/chat/1.0.0', data })

    const atA = ca.waitFor<PeerData>('peerData', (p) => p.protocol === '/chat/1.0.0', WAIT_MS)
    expect(await sendAcked(cb, a.peerId, '/chat/1.0.0', 'hello A', 7)).toEqual({ ack: 7, delivered: true })
    expect(await atA).toEqual({ peer: b.peerId, protocol: '/chat/1.0.0', data: 'hello A' })
  })

  it('delivers 100 messages in order over one reused stream; no ack push for ack < 0', async () => {
    const protocol = '/order/1.0.0'
    await ca.call('start', { protocol })
    await cb.call('start', { protocol })
    const received: number[] = []
    const acks: Ack[] = []
    const offData = cb.on<PeerData>('peerData', (p) => p.protocol === protocol && received.push(p.data as number))
    const offAck = ca.on<Ack>('ack', (x) => (x.ack >= 1000 || x.ack < 0) && acks.push(x))

    // all queued at once, without waiting for acks in between
    await Promise.all(Array.from({ length: 100 }, (_, i) => ca.call('send', { peer: b.peerId, protocol, data: i, ack: 1000 + i })))
    await vi.waitFor(() => expect(acks).toHaveLength(100), { timeout: WAIT_MS, interval: 20 })
    // B's pushes travel over B's own socket: they may trail A's acks a little
    await vi.waitFor(() => expect(received).toHaveLength(100), { timeout: WAIT_MS, interval: 20 })
    expect(received).toEqual(Array.from({ length: 100 }, (_, i) => i))
    expect(acks.every((x) => x.delivered)).toBe(true)
    expect(streamsTo(a, b, protocol)).toHaveLength(1)

    // ack -1: delivered, and no ack push; a later acked message proves the order of events
    const before = acks.length
    await ca.call('send', { peer: b.peerId, protocol, data: 100, ack: -1 })
    expect(await sendAcked(ca, b.peerId, protocol, 101, 2000)).toEqual({ ack: 2000, delivered: true })
    await vi.waitFor(() => expect(received.slice(100)).toEqual([100, 101]), { timeout: WAIT_MS, interval: 20 })
    expect(acks.slice(before).map((x) => x.ack)).toEqual([2000])
    offData()
    offAck()
  })

  it('closes an idle stream and opens a new one for the next message', async () => {
    const protocol = '/idle/1.0.0'
    await ca.call('start', { protocol })
    await cb.call('start', { protocol })
    expect(await sendAcked(ca, b.peerId, protocol, 'first', 1)).toMatchObject({ delivered: true })
    expect(streamsTo(a, b, protocol)).toHaveLength(1)
    // the opener closes it, and the receiver closes its end too, so neither side holds it
    await vi.waitFor(
      () => {
        expect(streamsTo(a, b, protocol)).toHaveLength(0)
        expect(streamsTo(b, a, protocol)).toHaveLength(0)
      },
      { timeout: WAIT_MS, interval: 50 },
    )
    const got = cb.waitFor<PeerData>('peerData', (p) => p.protocol === protocol && p.data === 'second', WAIT_MS)
    expect(await sendAcked(ca, b.peerId, protocol, 'second', 2)).toMatchObject({ delivered: true })
    await got
  })

  it('refuses a message to a protocol the receiver has not started, with the reason, at once', async () => {
    await ca.call('start', { protocol: '/nobody/1.0.0' })
    // the retry window is 60 s and the wait 30 s: a refusal that arrives was not a timeout
    const ack = await sendAcked(ca, b.peerId, '/nobody/1.0.0', { x: 1 }, 3)
    expect(ack.delivered).toBe(false)
    expect(ack.error).toMatch(/\/nobody\/1\.0\.0/)
    expect(ack.error).toMatch(/not started/)
    // the peer stays fine to talk to on a started protocol
    expect(await sendAcked(ca, b.peerId, '/chat/1.0.0', 'still here', 4)).toMatchObject({ delivered: true })
  })

  it('answers bad calls with 400 naming the problem', async () => {
    const c = await a.client()
    await c.call('start', { protocol: '/bad/1.0.0' })
    const bad = async (params: Record<string, unknown>, pattern: RegExp) => {
      const err = await c.call('send', params).then(
        () => undefined,
        (e: Error) => e,
      )
      expect(err?.message).toMatch(/^400: /)
      expect(err?.message).toMatch(pattern)
    }
    await bad({ peer: 'not-a-peer-id', protocol: '/bad/1.0.0', data: 1, ack: 0 }, /peer/)
    await bad({ peer: b.peerId, protocol: '/chat/1.0.0', data: 1, ack: 0 }, /not started on this connection/)
    await bad({ peer: b.peerId, protocol: '/bad/1.0.0', ack: 0 }, /data/)
    await bad({ peer: a.peerId, protocol: '/bad/1.0.0', data: 1, ack: 0 }, /itself/)
    await bad({ peer: b.peerId, protocol: 'no-slash', data: 1, ack: 0 }, /protocol/)
    await bad({ peer: b.peerId, protocol: '/bad/1.0.0', data: 1, ack: 1.5 }, /ack/)

    expect(await codeOf(c.call('start', { protocol: '' }))).toBe(400)
    expect(await codeOf(c.call('start', { protocol: '/with space' }))).toBe(400)
    expect(await codeOf(c.call('start', { protocol: '/line\nbreak' }))).toBe(400)
    expect(await codeOf(c.call('start', { protocol: `/${'x'.repeat(256)}` }))).toBe(400)
    expect(await codeOf(c.call('stop', { protocol: '/never/1.0.0' }))).toBe(400)
    // protocols the node itself serves are not for apps
    expect(await codeOf(c.call('start', { protocol: '/ipfs/id/1.0.0' }))).toBe(409)
    expect(await codeOf(c.call('start', { protocol: '/p2p-webapp/1.0.0' }))).toBe(409)
  })

  it('delivers to every connection that started the protocol; stop and socket close end it', async () => {
    const protocol = '/fanout/1.0.0'
    const [b1, b2] = await Promise.all([b.client(), b.client()])
    await b1.call('start', { protocol })
    await b2.call('start', { protocol })
    await ca.call('start', { protocol })

    const got1 = b1.waitFor<PeerData>('peerData', (p) => p.data === 'both', WAIT_MS)
    const got2 = b2.waitFor<PeerData>('peerData', (p) => p.data === 'both', WAIT_MS)
    expect(await sendAcked(ca, b.peerId, protocol, 'both', 10)).toMatchObject({ delivered: true })
    expect(await got1).toEqual({ peer: a.peerId, protocol, data: 'both' })
    expect(await got2).toEqual({ peer: a.peerId, protocol, data: 'both' })

    // one connection stops: the other still receives, the stopped one does not
    await b1.call('stop', { protocol })
    const seenBy1: unknown[] = []
    b1.on<PeerData>('peerData', (p) => seenBy1.push(p.data))
    const only2 = b2.waitFor<PeerData>('peerData', (p) => p.data === 'only b2', WAIT_MS)
    expect(await sendAcked(ca, b.peerId, protocol, 'only b2', 11)).toMatchObject({ delivered: true })
    await only2
    expect(seenBy1).toEqual([])
    // a second stop on that connection: it no longer has the protocol
    expect(await codeOf(b1.call('stop', { protocol }))).toBe(400)

    // the last connection closes its socket: the protocol stops with it, and senders hear why
    await b2.close()
    let n = 12
    await vi.waitFor(
      async () => {
        const ack = await sendAcked(ca, b.peerId, protocol, 'anyone?', n++)
        expect(ack.delivered).toBe(false)
        expect(ack.error).toMatch(/not started/)
      },
      { timeout: WAIT_MS, interval: 100 },
    )
    expect(seenBy1).toEqual([])
  })

  it('speaks the frames of a p2p-webapp Go peer, and delivers a resent copy once but acks it again', async () => {
    const protocol = '/chat/1.0.0'
    let raw: NodeHandle | undefined
    try {
      raw = await startRawNode()
      const rawId = raw.libp2p.peerId.toString()
      const { stream, answers } = await openRawStream(raw, b, protocol)
      const fromRaw: unknown[] = []
      cb.on<PeerData>('peerData', (p) => p.peer === rawId && fromRaw.push(p.data))

      // what Go's json.Marshal(StreamMessage{...}) writes after a 4-byte length; the first one twice,
      // as a sender does when it lost the ack
      const first = goFrame(`{"type":"data","id":"1700000000000000000-0","data":"${Buffer.from('{"hi":"go"}').toString('base64')}"}`)
      stream.send(first)
      stream.send(first)
      stream.send(goFrame(`{"type":"data","id":"1700000000000000001-1","data":"${Buffer.from('[2]').toString('base64')}"}`))
      await vi.waitFor(() => expect(answers).toHaveLength(3), { timeout: WAIT_MS, interval: 20 })
      // pushes reach B's client over its own socket, possibly after the acks reached the sender
      await vi.waitFor(() => expect(fromRaw).toHaveLength(2), { timeout: WAIT_MS, interval: 20 })
      expect(answers).toEqual([
        { type: 'ack', id: '1700000000000000000-0' },
        { type: 'ack', id: '1700000000000000000-0' },
        { type: 'ack', id: '1700000000000000001-1' },
      ])
      expect(fromRaw).toEqual([{ hi: 'go' }, [2]])
    } finally {
      await raw?.stop()
    }
  })

  it('cuts a stream that carries a malformed frame and lowers the sender reputation, and keeps serving', async () => {
    const protocol = '/chat/1.0.0'
    let raw: NodeHandle | undefined
    try {
      raw = await startRawNode()
      const rawId = raw.libp2p.peerId.toString()
      const { stream } = await openRawStream(raw, b, protocol)
      const closed = new Promise<void>((resolve) => stream.addEventListener('close', () => resolve(), { once: true }))
      stream.send(goFrame('{"type":"data","id":"x1","data":"not base64 JSON!"}'))
      await closed
      expect(b.core.stores.reputation.score(rawId)).toBeLessThan(0)

      // a length prefix over the frame limit is cut without reading on
      const big = await raw.libp2p.dialProtocol(peerIdFromString(b.peerId), protocol)
      const bigClosed = new Promise<void>((resolve) => big.addEventListener('close', () => resolve(), { once: true }))
      big.send(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 1, 2, 3))
      await bigClosed

      // the daemon keeps working for everyone else
      expect(await sendAcked(ca, b.peerId, protocol, 'after the garbage', 20)).toMatchObject({ delivered: true })
    } finally {
      await raw?.stop()
    }
  })
})
