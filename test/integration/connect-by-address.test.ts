import { KEEP_ALIVE } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Activity } from '../../src/actors/activity-log.ts'
import { PROTECTED_TAG } from '../../src/actors/protection/protected-peers.ts'
import { SwitchboardError, type SwitchboardClient } from '../../src/client/switchboard-client.ts'
import type { AddressBookWireEntry } from '../../src/p2p/address-book.ts'
import type { PeerState } from '../../src/server/peer-state.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'
import { LOOPBACK_DEFAULT_LISTEN } from '../support/listen.ts'
import { dialsOf, PeerStates } from '../support/peers.ts'

/** The address of `d` over one transport, without its /p2p/ part. */
function addrOf(d: TestDaemon, transport: 'tcp' | 'webrtc-direct'): string {
  const addrs = d.core.nodes.info('peer-a').addrs.map((a) => a.replace(/\/p2p\/[^/]+$/, ''))
  const found = addrs.find((a) => (transport === 'tcp' ? /\/tcp\/\d+$/.test(a) : a.includes('/webrtc-direct')))
  if (found === undefined) throw new Error(`no ${transport} address among ${addrs.join(', ')}`)
  return found
}

/** The rejection of a call: its code and message. */
async function rejection(p: Promise<unknown>): Promise<SwitchboardError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(err instanceof SwitchboardError)) throw new Error(`expected a SwitchboardError, got ${String(err)}`)
  return err
}

type ActivityPush = Omit<Activity, 'alias'>

/**
 * Four daemons that share no DHT, bootstrap list or address: A reaches each only by the address a
 * user gives it. A and C listen on every default transport (TCP, WebSockets, WebRTC-direct) bound
 * to 127.0.0.1.
 */
describe('connect by address', () => {
  let a: TestDaemon
  let b: TestDaemon
  let c: TestDaemon
  let d: TestDaemon
  let client: SwitchboardClient
  let states: PeerStates
  const activity: ActivityPush[] = []

  beforeAll(async () => {
    ;[a, b, c, d] = await Promise.all([
      startTestDaemon({ listen: LOOPBACK_DEFAULT_LISTEN }),
      startTestDaemon(),
      startTestDaemon({ listen: LOOPBACK_DEFAULT_LISTEN }),
      startTestDaemon(),
    ])
    client = await a.client()
    client.on<ActivityPush>('activity', (x) => activity.push(x))
    states = await PeerStates.bind(client)
  })
  afterAll(async () => {
    await Promise.all([a, b, c, d].map((x) => x?.destroy()))
  })

  const book = async (peerId: string) =>
    (await client.call<{ entries: AddressBookWireEntry[] }>('addressbook.list')).entries.filter((e) => e.peerId === peerId)

  it('bad addrs are a 400 naming the entry and the problem, before any dial', async () => {
    const tcp = addrOf(b, 'tcp')
    const cases: Array<[unknown[], RegExp]> = [
      [['/ip4/127.0.0.1/tcp/notaport'], /addrs\.0: .*is not a dialable multiaddr/],
      [[tcp, 'hello'], /addrs\.1: "hello" is not a dialable multiaddr/],
      [[`${tcp}/p2p/${d.peerId}`], new RegExp(`addrs\\.0: .* names peer ${d.peerId}, not peerId ${b.peerId}`)],
      [['/ip4/127.0.0.1/udp/4001/quic-v1'], /addrs\.0: .*\/udp\/quic-v1 is not a transport this daemon dials/],
      [['/ip4/0.0.0.0/tcp/4001'], /addrs\.0: .*0\.0\.0\.0 is an unspecified address/],
      [[`/ip4/127.0.0.1/tcp/4001/p2p-circuit/p2p/${b.peerId}`], /addrs\.0: .*names the relay/],
      [[`/p2p/${b.peerId}`], /addrs\.0: .*must start with \/ip4/],
      [Array.from({ length: 33 }, (_, i) => `/ip4/127.0.0.1/tcp/${4000 + i}`), /addrs: at most 32 addresses, got 33/],
    ]
    for (const [addrs, message] of cases) {
      const err = await rejection(client.call('peers.connect', { peerId: b.peerId, addrs }))
      expect(err.code).toBe(400)
      expect(err.message).toMatch(message)
    }
    // nothing was dialled, learnt or spawned
    expect(dialsOf(a)).toMatchObject({ inFlight: 0, max: 0 })
    expect(await book(b.peerId)).toEqual([])
    const { peers } = await client.call<{ peers: PeerState[] }>('peers.list')
    expect(peers.find((p) => p.peerId === b.peerId)).toBeUndefined()
    expect(activity.filter((x) => x.peerId === b.peerId)).toEqual([])
  })

  it("peers.connect {peerId, addrs: [B's TCP address]} connects; the address is in the book as manual", async () => {
    const tcp = addrOf(b, 'tcp')
    expect(await book(b.peerId)).toEqual([])
    const result = await client.call('peers.connect', { peerId: b.peerId, addrs: [tcp] })
    expect(result).toEqual({ success: true, connectionType: 'direct' })
    await states.until(b.peerId, (s) => s.status === 'connected')
    const entry = (await book(b.peerId)).find((e) => e.multiaddr === `${tcp}/p2p/${b.peerId}`)
    // identify reports the same address later: a manual entry stays manual
    expect(entry).toMatchObject({ source: 'manual', successes: 1 })
  })

  it('peers.connect by a WebRTC-direct address (default transports)', async () => {
    const webrtc = addrOf(c, 'webrtc-direct')
    // a /p2p/ naming the peer itself is fine
    const result = await client.call('peers.connect', { peerId: c.peerId, addrs: [`${webrtc}/p2p/${c.peerId}`] })
    expect(result).toEqual({ success: true, connectionType: 'webrtc' })
    expect(await book(c.peerId)).toEqual(
      expect.arrayContaining([expect.objectContaining({ multiaddr: `${webrtc}/p2p/${c.peerId}`, source: 'manual', successes: 1 })]),
    )
  })

  it('addpeers takes a full /p2p/ multiaddr: connected, added, protected, address manual; bad entries skipped', async () => {
    const full = `${addrOf(d, 'tcp')}/p2p/${d.peerId}`
    expect(await client.call('addpeers', { peerIds: ['/ip4/127.0.0.1/tcp/1', full] })).toBeNull()
    const connected = await states.until(d.peerId, (s) => s.status === 'connected')
    expect(connected).toMatchObject({ added: true, connectionType: 'direct' })
    expect(await book(d.peerId)).toEqual([expect.objectContaining({ multiaddr: full, source: 'manual' })])
    const peer = await a.core.nodes.handle('peer-a').libp2p.peerStore.get(peerIdFromString(d.peerId))
    expect(Object.fromEntries([...peer.tags].map(([name, tag]) => [name, tag.value]))).toMatchObject({
      [KEEP_ALIVE]: 100,
      [PROTECTED_TAG]: 100,
    })
    expect(a.core.peers.isProtected('peer-a', d.peerId)).toBe(true)
    const { activity: listed } = await client.call<{ activity: ActivityPush[] }>('activity.list')
    expect(listed.map((x) => x.message)).toContainEqual(
      expect.stringMatching(/addpeers: skipped peerIds\.0: "\/ip4\/127\.0\.0\.1\/tcp\/1" names no peer/),
    )
  })
})

/**
 * With `allowLoopbackAddresses: false` (a public deployment) the address book keeps no loopback
 * address, a typed one included; the peer store takes it, so the dial the user asked for still works.
 */
describe('connect by a loopback address the address book refuses', () => {
  let a: TestDaemon
  let b: TestDaemon

  beforeAll(async () => {
    ;[a, b] = await Promise.all([startTestDaemon({ allowLoopbackAddresses: false }), startTestDaemon()])
  })
  afterAll(async () => {
    await Promise.all([a, b].map((x) => x?.destroy()))
  })

  it('connects through the peer store and says why the book did not keep it', async () => {
    const client = await a.client()
    const tcp = addrOf(b, 'tcp')
    const result = await client.call('peers.connect', { peerId: b.peerId, addrs: [tcp] })
    expect(result).toEqual({ success: true, connectionType: 'direct' })
    expect(a.core.stores.addressBook.forPeer(b.peerId)).toEqual([])
    const { activity } = await client.call<{ activity: ActivityPush[] }>('activity.list')
    expect(activity.map((x) => x.message)).toContainEqual(
      `address book: not keeping ${tcp} for ${b.peerId} (loopback); dialled through the peer store only`,
    )
  })
})
