import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import type { PeerState } from '../../src/server/peer-state.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'
import { codeOf, PeerStates, teachAddress } from '../support/peers.ts'
import { watchActors } from '../support/watch-actors.ts'

interface ConnectResult {
  success: boolean
  connectionType: string
  error?: string
}

describe('remote peers between two daemons', () => {
  let a: TestDaemon
  let b: TestDaemon
  let ca: SwitchboardClient
  let cb: SwitchboardClient
  let statesA: PeerStates
  let statesB: PeerStates

  beforeAll(async () => {
    ;[a, b] = await Promise.all([startTestDaemon(), startTestDaemon()])
    ;[ca, cb] = await Promise.all([a.client(), b.client()])
    statesA = await PeerStates.bind(ca)
    statesB = await PeerStates.bind(cb)
    teachAddress(a, b)
  })
  afterAll(async () => {
    await Promise.all([a?.destroy(), b?.destroy()])
  })

  const listed = async (c: SwitchboardClient, peerId: string) =>
    (await c.call<{ peers: PeerState[] }>('peers.list')).peers.find((p) => p.peerId === peerId)

  it('connect: success over a direct connection, with connecting then connected pushed in order', async () => {
    const result = await ca.call<ConnectResult>('peers.connect', { peerId: b.peerId })
    expect(result).toEqual({ success: true, connectionType: 'direct' })
    await statesA.until(b.peerId, (s) => s.status === 'connected')
    expect(statesA.statuses(b.peerId)).toEqual(['disconnected', 'connecting', 'connected'])
    expect(statesA.latest(b.peerId)).toMatchObject({ connectionType: 'direct', lastError: null, known: false })
    // the other side's actor moved too, from libp2p's incoming connection alone
    await statesB.until(a.peerId, (s) => s.status === 'connected' && s.connectionType === 'direct')
    expect(await listed(ca, b.peerId)).toMatchObject({ status: 'connected', connectionType: 'direct' })
    expect(await listed(cb, a.peerId)).toMatchObject({ status: 'connected', connectionType: 'direct' })
    // identify told B where A listens: B can dial back without being told
    const aAddrs = a.core.nodes.info('peer-a').addrs
    await vi.waitFor(
      () => expect(b.core.stores.addressBook.forPeer(a.peerId).map((e) => e.multiaddr)).toEqual(expect.arrayContaining(aAddrs)),
      { timeout: 30_000 },
    )
    expect(b.core.stores.addressBook.forPeer(a.peerId)[0]?.source).toBe('identify')
  })

  it('disconnect: a known peer stays listed as disconnected; the other side releases its actor for an unknown peer', async () => {
    const watchB = await watchActors(cb, `peer:peer-a:${a.peerId}`)
    const updated = await ca.call<PeerState>('peers.update', { peerId: b.peerId, known: true, name: 'b' })
    expect(updated).toMatchObject({ peerId: b.peerId, known: true, name: 'b', autoConnect: false })
    // becoming known starts a sync at once; the answer may be taken before or after B refuses it
    expect(['syncing', 'connected']).toContain(updated.status)
    expect(updated.addedAt).toBeGreaterThan(Date.now() - 60_000)
    const refused = await statesA.until(b.peerId, (s) => s.status === 'connected' && /^sync: /.test(s.lastError ?? ''))
    expect(refused.known).toBe(true)
    const stoppedOnB = cb.waitFor<{ systemId: string }>('actor.stopped', (p) => p.systemId === `peer:peer-a:${a.peerId}`, 30_000)

    await expect(ca.call('peers.disconnect', { peerId: b.peerId })).resolves.toBeNull()
    const after = await statesA.until(b.peerId, (s) => s.status === 'disconnected')
    expect(after).toMatchObject({ connectionType: 'none', known: true, held: true })
    expect(await listed(ca, b.peerId)).toMatchObject({ status: 'disconnected', name: 'b' })
    // B never knew A: memory stays bounded, its actor goes when the connection does
    await stoppedOnB
    expect(await listed(cb, a.peerId)).toBeUndefined()
    expect(watchB.history(`peer:peer-a:${a.peerId}`).at(-1)?.value).toBe('disconnected')
    watchB.stop()
    const activity = await cb.call<{ activity: { type: string; peerId?: string }[] }>('activity.list')
    expect(activity.activity.map((x) => x.type)).toEqual(expect.arrayContaining(['peer_joined', 'peer_left']))
    expect(activity.activity.filter((x) => x.peerId === a.peerId).length).toBeGreaterThanOrEqual(2)
  })

  it('reconnect: connecting again from the disconnected state', async () => {
    statesA.reset(b.peerId)
    const result = await ca.call<ConnectResult>('peers.connect', { peerId: b.peerId })
    expect(result).toEqual({ success: true, connectionType: 'direct' })
    // B is known to A, so A syncs it on arrival (B does not know A: that sync is refused, and A says so)
    const settled = await statesA.until(b.peerId, (s) => s.status === 'connected')
    expect(statesA.statuses(b.peerId)).toEqual(['connecting', 'syncing', 'connected'])
    expect(settled.lastError).toMatch(/^sync: /)
    expect(statesA.latest(b.peerId)).toMatchObject({ held: false, known: true })
    await statesB.until(a.peerId, (s) => s.status === 'connected')
  })

  it('an incoming connection moves the actor of a held peer to connected', async () => {
    await ca.call('peers.disconnect', { peerId: b.peerId })
    await statesA.until(b.peerId, (s) => s.status === 'disconnected' && s.held)
    statesA.reset(b.peerId)
    // B learnt A's addresses from identify on the first connection
    const result = await cb.call<ConnectResult>('peers.connect', { peerId: a.peerId })
    expect(result).toEqual({ success: true, connectionType: 'direct' })
    await statesA.until(b.peerId, (s) => s.status === 'connected' && s.connectionType === 'direct')
    expect(statesA.statuses(b.peerId)).toEqual(['syncing', 'connected'])
    expect(await listed(ca, b.peerId)).toMatchObject({ status: 'connected', connectionType: 'direct' })
    expect(await listed(cb, a.peerId)).toMatchObject({ status: 'connected', connectionType: 'direct' })
  })

  it('forget: disconnects, removes the peer from disk and from the list', async () => {
    const known = () => a.core.nodes.get('peer-a')?.knownPeers.has(b.peerId)
    expect(known()).toBe(true)
    const stopped = ca.waitFor<{ systemId: string }>('actor.stopped', (p) => p.systemId === `peer:peer-a:${b.peerId}`, 30_000)
    const watch = await watchActors(ca, `peer:peer-a:${b.peerId}`)
    await expect(ca.call('peers.forget', { peerId: b.peerId })).resolves.toBeNull()
    await stopped
    watch.stop()
    expect(known()).toBe(false)
    expect(await listed(ca, b.peerId)).toBeUndefined()
    await statesB.until(a.peerId, (s) => s.status === 'disconnected')
    await expect(codeOf(ca.call('peers.forget', { peerId: b.peerId }))).resolves.toBe(404)
  })

  it('refuses invalid peer ids and our own, naming the value', async () => {
    const bad = 'not-a-peer-id'
    const calls: [string, unknown, string][] = [
      ['peers.connect', { peerId: bad }, 'peerId'],
      ['peers.connectMany', { peerIds: [b.peerId, bad] }, 'peerIds.1'],
      ['peers.ensureConnected', { peerIds: [bad] }, 'peerIds.0'],
      ['peers.disconnect', { peerId: bad }, 'peerId'],
      ['peers.update', { peerId: bad, known: true }, 'peerId'],
      ['peers.forget', { peerId: bad }, 'peerId'],
      ['bans.add', { peerId: bad }, 'peerId'],
      ['bans.remove', { peerId: bad }, 'peerId'],
    ]
    for (const [method, params, field] of calls) {
      const err = await ca.call(method, params).then(
        () => undefined,
        (e: { code: number; message: string }) => e,
      )
      expect(err, method).toMatchObject({ code: 400 })
      expect(err?.message, method).toContain(field)
      expect(err?.message, method).toContain(bad)
    }
    for (const [method, params] of [
      ['peers.connect', { peerId: a.peerId }],
      ['peers.connectMany', { peerIds: [a.peerId] }],
      ['peers.update', { peerId: a.peerId, known: true }],
      ['bans.add', { peerId: a.peerId }],
    ] as const) {
      const err = await ca.call(method, params).then(
        () => undefined,
        (e: { code: number; message: string }) => e,
      )
      expect(err, method).toMatchObject({ code: 400 })
      expect(err?.message, method).toContain(a.peerId)
    }
    // nothing reached libp2p or the stores
    expect(a.core.stores.reputation.bans.list()).toEqual([])
    expect(a.core.nodes.get('peer-a')?.knownPeers.has(a.peerId)).toBe(false)
  })
})
