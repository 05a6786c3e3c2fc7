import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { Activity } from '../../src/actors/activity-log.ts'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import type { NodeHandle } from '../../src/p2p/node-factory.ts'
import { createPresence, encodePresence, PRESENCE_TOPIC, type Presence, type SignedPresence } from '../../src/p2p/presence-record.ts'
import type { ReputationEntry } from '../../src/p2p/reputation.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'
import { startRawNode } from '../support/raw-node.ts'

type Online = { online: Presence[] }
type ActivityPush = Omit<Activity, 'alias'>

const subscribers = (d: { core: TestDaemon['core'] }) =>
  d.core.nodes.handle('peer-a').libp2p.services.pubsub.getSubscribers(PRESENCE_TOPIC).map(String)
const entryOf = (online: Presence[], peerId: string) => online.find((p) => p.peerId === peerId)
let dhtCounter = 0
// a DHT protocol per daemon keeps them out of each other's DHT: A and B meet only through the hub
const ownDht = () => ({ dhtProtocol: `/sb-presence-${process.pid}-${dhtCounter++}/kad/1.0.0` })

/**
 * A hub and two daemons that bootstrap from it: A and B are never connected to each other, so
 * whatever A knows of B came through the presence topic.
 */
describe('presence between daemons', () => {
  let hub: TestDaemon
  let a: TestDaemon
  let b: TestDaemon
  let aClient: SwitchboardClient
  let bClient: SwitchboardClient
  const others: TestDaemon[] = []
  let raw: NodeHandle | undefined

  /** A daemon bootstrapping from the hub, once the hub's presence subscription has reached it. */
  async function joinHub(): Promise<TestDaemon> {
    const d = await startTestDaemon({ ...ownDht(), bootstrap: [hub.core.nodes.info('peer-a').addrs[0] ?? ''] })
    await vi.waitFor(
      () => {
        expect(subscribers(hub)).toContain(d.peerId)
        expect(subscribers(d)).toContain(hub.peerId)
      },
      { timeout: 30_000, interval: 20 },
    )
    return d
  }

  beforeAll(async () => {
    hub = await startTestDaemon(ownDht())
    ;[a, b] = await Promise.all([joinHub(), joinHub()])
    aClient = await a.client()
    bClient = await b.client()
    expect(await aClient.call<Online>('presence.list')).toEqual({ online: [] })
  })
  afterAll(async () => {
    await raw?.stop().catch(() => {})
    await Promise.all([hub, a, b, ...others].map((d) => d?.destroy()))
  })

  it('an announcement on B is listed on A with its nickname and addresses; peers.connect uses them', async () => {
    const update = aClient.waitFor<Online>('presence.update', (p) => entryOf(p.online, b.peerId) !== undefined)
    expect(await bClient.call('presence.announce', { nickname: 'bob' })).toBeNull()
    const entry = entryOf((await update).online, b.peerId)
    const bAddr = b.core.nodes.info('peer-a').addrs[0] ?? ''
    expect(entry).toMatchObject({ peerId: b.peerId, nickname: 'bob' })
    expect(entry?.multiaddrs).toContain(bAddr)
    // the default lifetime
    expect((entry?.expiresAt ?? 0) - (entry?.createdAt ?? 0)).toBe(300_000)
    expect(entryOf((await aClient.call<Online>('presence.list')).online, b.peerId)).toEqual(entry)
    // B does not list itself
    expect(entryOf((await bClient.call<Online>('presence.list')).online, b.peerId)).toBeUndefined()

    const bId = peerIdFromString(b.peerId)
    expect(a.core.nodes.handle('peer-a').libp2p.getConnections(bId)).toHaveLength(0)
    const { entries } = await aClient.call<{ entries: Array<{ multiaddr: string; peerId?: string; source: string }> }>('addressbook.list')
    expect(entries.filter((e) => e.peerId === b.peerId).map((e) => e.source)).toEqual(expect.arrayContaining(['presence']))

    expect(await aClient.call('peers.connect', { peerId: b.peerId })).toMatchObject({ success: true, connectionType: 'direct' })
    expect(a.core.nodes.handle('peer-a').libp2p.getConnections(bId).length).toBeGreaterThan(0)
  })

  it('a live announcement is re-published before it expires', async () => {
    const first = aClient.waitFor<Online>('presence.update', (p) => entryOf(p.online, b.peerId)?.nickname === 'bob, briefly')
    await bClient.call('presence.announce', { nickname: 'bob, briefly', ttlSeconds: 2 })
    const r1 = entryOf((await first).online, b.peerId) as Presence
    expect(r1.expiresAt - r1.createdAt).toBe(2_000)
    const again = await aClient.waitFor<Online>('presence.update', (p) => (entryOf(p.online, b.peerId)?.createdAt ?? 0) > r1.createdAt)
    const r2 = entryOf(again.online, b.peerId) as Presence
    expect(r2.createdAt).toBeLessThan(r1.expiresAt)
    expect(r2.nickname).toBe('bob, briefly')
  })

  it('a peer that stops announcing is gone from the list once its record expires', async () => {
    const d = await joinHub()
    others.push(d)
    const dClient = await d.client()
    const listed = aClient.waitFor<Online>('presence.update', (p) => entryOf(p.online, d.peerId) !== undefined)
    await dClient.call('presence.announce', { nickname: 'dave', ttlSeconds: 2 })
    const first = entryOf((await listed).online, d.peerId)
    expect(first?.nickname).toBe('dave')

    // the last record of D that A accepted: removal must wait for its expiry
    let lastSeen = first
    const stopWatching = aClient.on<Online>('presence.update', (p) => {
      lastSeen = entryOf(p.online, d.peerId) ?? lastSeen
    })
    const gone = aClient.waitFor<Online>('presence.update', (p) => entryOf(p.online, d.peerId) === undefined)
    await d.close()
    const { online } = await gone
    stopWatching()
    expect(Date.now()).toBeGreaterThanOrEqual(lastSeen?.expiresAt ?? Number.POSITIVE_INFINITY)
    const last = entryOf((await aClient.call<Online>('presence.list')).online, d.peerId)
    expect(last).toBeUndefined()
    // B is still there: only the expired record went
    expect(entryOf(online, b.peerId)).toBeDefined()
  })

  it('forged and expired records are dropped and cost their sender reputation', async () => {
    const malloryKey = await generateKeyPair('Ed25519')
    raw = await startRawNode(malloryKey)
    const mallory = raw.libp2p.peerId.toString()
    const pubsub = raw.libp2p.services.pubsub
    await raw.libp2p.dial(multiaddr(a.core.nodes.info('peer-a').addrs[0] ?? ''))
    await vi.waitFor(() => expect(pubsub.getSubscribers(PRESENCE_TOPIC).map(String)).toContain(a.peerId), { timeout: 30_000, interval: 20 })
    const dropped = (pattern: RegExp) =>
      aClient.waitFor<ActivityPush>('activity', (x) => x.type === 'error' && x.peerId === mallory && pattern.test(x.message))
    const scoreOf = async () =>
      (await aClient.call<{ peers: ReputationEntry[] }>('reputation.list')).peers.find((p) => p.peerId === mallory)?.score ?? 0
    const publish = (record: SignedPresence) => pubsub.publish(PRESENCE_TOPIC, encodePresence(record))

    // control: Mallory's own, genuine record is accepted, so what follows is dropped for its content
    const genuine = aClient.waitFor<Online>('presence.update', (p) => entryOf(p.online, mallory) !== undefined)
    await publish(await createPresence(malloryKey, { nickname: 'mallory', multiaddrs: [], ttlSeconds: 60 }))
    expect(entryOf((await genuine).online, mallory)?.nickname).toBe('mallory')
    expect(await scoreOf()).toBe(0)

    const expired = dropped(/expired/)
    await publish(await createPresence(malloryKey, { nickname: 'stale', multiaddrs: [], ttlSeconds: 1, now: Date.now() - 10_000 }))
    await expired
    const afterExpired = await scoreOf()
    expect(afterExpired).toBeLessThan(0)

    // signed with another key, naming Mallory
    const other = await generateKeyPair('Ed25519')
    const badSignature = dropped(/bad signature/)
    await publish({
      ...(await createPresence(other, { nickname: 'forged', multiaddrs: ['/ip4/127.0.0.1/tcp/9'], ttlSeconds: 60 })),
      peerId: mallory,
    })
    await badSignature
    const afterForgery = await scoreOf()
    expect(afterForgery).toBeLessThan(afterExpired)

    // naming B, sent by Mallory
    const impersonation = dropped(/was sent by/)
    await publish({ ...(await createPresence(other, { nickname: 'not bob', multiaddrs: [], ttlSeconds: 60 })), peerId: b.peerId })
    await impersonation
    expect(await scoreOf()).toBeLessThan(afterForgery)

    const { online } = await aClient.call<Online>('presence.list')
    expect(entryOf(online, mallory)?.nickname).toBe('mallory')
    expect(entryOf(online, b.peerId)?.nickname).toBe('bob, briefly')
  })
})
