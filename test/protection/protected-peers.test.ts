import { rm } from 'node:fs/promises'
import { KEEP_ALIVE } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { Activity } from '../../src/actors/activity-log.ts'
import { PROTECTED_TAG } from '../../src/actors/protection/protected-peers.ts'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import type { NodeHandle } from '../../src/p2p/node-factory.ts'
import type { PeerState } from '../../src/server/peer-state.ts'
import { startTestDaemon, tempDir, type TestDaemon } from '../support/daemon.ts'
import { PeerStates, teachAddress } from '../support/peers.ts'
import { freePorts } from '../support/process-daemon.ts'
import { startRawNode } from '../support/raw-node.ts'

type ActivityPush = Omit<Activity, 'alias'>

/** The peer-store tags `daemon`'s peer-a holds for `peerId`. */
async function tagsOf(daemon: TestDaemon, peerId: string): Promise<Record<string, number>> {
  const peer = await daemon.core.nodes.handle('peer-a').libp2p.peerStore.get(peerIdFromString(peerId))
  return Object.fromEntries([...peer.tags].map(([name, tag]) => [name, tag.value]))
}

function recordActivity(client: SwitchboardClient): ActivityPush[] {
  const seen: ActivityPush[] = []
  client.on<ActivityPush>('activity', (a) => seen.push(a))
  return seen
}

const peerOf = (peers: PeerState[], peerId: string) => peers.find((p) => p.peerId === peerId)

describe('addpeers / removepeers', () => {
  let a: TestDaemon
  let b: TestDaemon
  let client: SwitchboardClient
  let states: PeerStates
  let activity: ActivityPush[]

  beforeAll(async () => {
    ;[a, b] = await Promise.all([startTestDaemon(), startTestDaemon()])
    client = await a.client()
    activity = recordActivity(client)
    states = await PeerStates.bind(client)
  })
  afterAll(async () => {
    await Promise.all([a?.destroy(), b?.destroy()])
  })

  it('skips invalid ids (reported in the activity feed); a valid one is tagged, added and dialled', async () => {
    teachAddress(a, b)
    expect(await client.call('addpeers', { peerIds: ['not-a-peer-id', b.peerId, b.peerId, a.peerId] })).toBeNull()

    const connected = await states.until(b.peerId, (s) => s.status === 'connected')
    expect(connected).toMatchObject({ added: true, connectionType: 'direct' })
    const { peers } = await client.call<{ peers: PeerState[] }>('peers.list')
    expect(peerOf(peers, b.peerId)).toMatchObject({ added: true, status: 'connected' })
    expect(peers.filter((p) => p.peerId === b.peerId)).toHaveLength(1)

    await vi.waitFor(() => expect(activity.filter((x) => x.type === 'error')).toHaveLength(2))
    const errors = activity.filter((x) => x.type === 'error').map((x) => x.message)
    expect(errors[0]).toMatch(/addpeers: skipped peerIds\.0: "not-a-peer-id" is not a valid peer id/)
    expect(errors[1]).toMatch(/peerIds\.3: .* is this local peer itself/)
    // the feed keeps them for a client that connects later
    const { activity: listed } = await client.call<{ activity: ActivityPush[] }>('activity.list')
    expect(listed.map((x) => x.message)).toEqual(expect.arrayContaining(errors))

    expect(await tagsOf(a, b.peerId)).toMatchObject({ [KEEP_ALIVE]: 100, [PROTECTED_TAG]: 100 })
  })

  it('an added peer that hangs up is dialled again', async () => {
    const dropped = states.next(b.peerId, (s) => s.status !== 'connected')
    // B's side closes the connection (as a restart or a network cut would); A must dial again
    await b.core.nodes.handle('peer-a').libp2p.hangUp(peerIdFromString(a.peerId))
    expect((await dropped).added).toBe(true)
    const back = await states.until(b.peerId, (s) => s.status === 'connected')
    expect(back.added).toBe(true)
    expect(a.core.nodes.handle('peer-a').libp2p.getConnections(peerIdFromString(b.peerId)).length).toBeGreaterThan(0)
  })

  it('removepeers lifts protection and the tags but keeps the connection', async () => {
    const errorsBefore = activity.filter((x) => x.type === 'error').length
    expect(await client.call('removepeers', { peerIds: [b.peerId, '12D3KooWnotreally'] })).toBeNull()
    const removed = await states.until(b.peerId, (s) => !s.added)
    expect(removed.status).toBe('connected')
    const tags = await tagsOf(a, b.peerId)
    expect(tags[KEEP_ALIVE]).toBeUndefined()
    expect(tags[PROTECTED_TAG]).toBeUndefined()
    await vi.waitFor(() => expect(activity.filter((x) => x.type === 'error')).toHaveLength(errorsBefore + 1))
    expect(activity.at(-1)?.message).toMatch(/removepeers: skipped peerIds\.1/)

    // a later round trip still finds the connection open: nothing hung up behind the answer
    const { peers } = await client.call<{ peers: PeerState[] }>('peers.list')
    expect(peerOf(peers, b.peerId)).toMatchObject({ added: false, status: 'connected' })
    expect(a.core.nodes.handle('peer-a').libp2p.getConnections(peerIdFromString(b.peerId)).length).toBeGreaterThan(0)
  })
})

describe('protected peers and our connection pruner', () => {
  const HIGH = 2
  let a: TestDaemon
  let protectedPeers: TestDaemon[] = []
  const fillers: NodeHandle[] = []

  beforeAll(async () => {
    // the low watermark is below the number of protected peers: only protection keeps them
    ;[a, ...protectedPeers] = await Promise.all([
      startTestDaemon({ maxConnections: HIGH, lowWatermark: 1, pruneGraceMs: 0 }),
      startTestDaemon(),
      startTestDaemon(),
    ])
  })
  afterAll(async () => {
    await Promise.all(fillers.map((f) => f.stop().catch(() => {})))
    await Promise.all([a?.destroy(), ...protectedPeers.map((d) => d.destroy())])
  })

  it('connections above the high watermark are pruned; added peers stay connected throughout', async () => {
    const client = await a.client()
    const activity = recordActivity(client)
    const states = await PeerStates.bind(client)
    for (const p of protectedPeers) teachAddress(a, p)
    await client.call('addpeers', { peerIds: protectedPeers.map((p) => p.peerId) })
    for (const p of protectedPeers) {
      await states.until(p.peerId, (s) => s.status === 'connected')
      states.reset(p.peerId)
    }

    const aId = peerIdFromString(a.peerId)
    const aAddr = multiaddr(a.core.nodes.info('peer-a').addrs[0] ?? '')
    for (let i = 0; i < 3; i++) {
      const filler = await startRawNode()
      fillers.push(filler)
      await filler.libp2p.dial(aAddr)
      // one over the high watermark: the newcomer is the only unprotected connection, so it goes
      await vi.waitFor(() => expect(filler.libp2p.getConnections(aId)).toHaveLength(0), { timeout: 30_000, interval: 20 })
    }

    expect(a.core.nodes.services('peer-a').protection.pruner.pruned).toBeGreaterThanOrEqual(3)
    // the feed's push of the last prune may reach the client after the filler saw its connection close
    const prunedLines = () => activity.filter((x) => x.type === 'info' && x.message.startsWith('pruned '))
    await vi.waitFor(() => expect(prunedLines().length).toBeGreaterThanOrEqual(3))
    const pruned = prunedLines()
    expect(pruned[0]?.message).toMatch(/spared 2 protected/)
    for (const p of protectedPeers) {
      // not one state change since they connected, and no disconnect in the feed
      expect(states.all(p.peerId)).toEqual([])
      expect(activity.filter((x) => x.type === 'peer_left' && x.peerId === p.peerId)).toEqual([])
      expect(a.core.nodes.handle('peer-a').libp2p.getConnections(peerIdFromString(p.peerId)).length).toBeGreaterThan(0)
    }
    const { peers } = await client.call<{ peers: PeerState[] }>('peers.list')
    for (const p of protectedPeers) expect(peerOf(peers, p.peerId)).toMatchObject({ added: true, status: 'connected' })
    expect(await client.call<{ connections: number }>('node.info')).toMatchObject({ connections: HIGH })
  })
})

describe('an added peer across a restart of the other daemon', () => {
  let a: TestDaemon
  let b: TestDaemon | undefined
  let dirB: string

  afterAll(async () => {
    await Promise.all([a?.destroy(), b?.destroy()])
    if (dirB) await rm(dirB, { recursive: true, force: true })
  })

  it('is connected again within 2 s of the other daemon being back on its address', async () => {
    dirB = await tempDir('sb-restart-')
    const overridesB = { listen: [`/ip4/127.0.0.1/tcp/${await freePorts(1)}`] }
    // the retry cap bounds the wait after the peer returns: at most 500 ms x 1.5 jitter
    ;[a, b] = await Promise.all([startTestDaemon({ peerRetryMaxMs: 500 }), startTestDaemon(overridesB, dirB)])
    const bPeerId = b.peerId
    const client = await a.client()
    const states = await PeerStates.bind(client)
    teachAddress(a, b)
    await client.call('addpeers', { peerIds: [bPeerId] })
    await states.until(bPeerId, (s) => s.status === 'connected')

    const lost = states.next(bPeerId, (s) => s.status === 'backoff')
    await b.close()
    b = undefined
    await lost

    b = await startTestDaemon(overridesB, dirB)
    const backAt = Date.now()
    expect(b.peerId).toBe(bPeerId)
    const back = await states.until(bPeerId, (s) => s.status === 'connected', 30_000)
    const waited = Date.now() - backAt
    expect(back).toMatchObject({ added: true, status: 'connected' })
    expect(waited).toBeLessThan(2_000)
  })
})
