import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { ActorSnapshot } from '../../src/actors/supervisor/actor-registry.ts'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'
import { codeOf } from '../support/peers.ts'

interface TopicData {
  topic: string
  peerid: string
  data: unknown
}
interface PeerChange {
  topic: string
  peerid: string
  joined: boolean
}
interface TopicView {
  refs: number
  peers: string[]
}

const listActors = async (c: SwitchboardClient, prefix: string) =>
  (await c.call<{ actors: ActorSnapshot[] }>('actors.list', { prefix })).actors
const listPeers = async (c: SwitchboardClient, topic: string) => (await c.call<{ peers: string[] }>('listpeers', { topic })).peers
const isSubscribed = (s: ActorSnapshot | undefined) => JSON.stringify(s?.value) === JSON.stringify({ joined: 'subscribed' })

/** Every push of `method` from now on, for assertions on what did (or did not) arrive. */
function record<P>(client: SwitchboardClient, method: string): P[] {
  const seen: P[] = []
  client.on<P>(method, (p) => seen.push(p))
  return seen
}

/** A daemon whose peer-a bootstraps from `from`'s peer-a. */
const startPeerOf = (from: TestDaemon) =>
  startTestDaemon({ bootstrap: from.core.nodes.info('peer-a').addrs.filter((a) => a.includes('/127.0.0.1/tcp/')) })

/** Resolve once `d`'s peer-a has a connection to `peerId`. */
const connectedTo = (d: TestDaemon, peerId: string) =>
  vi.waitFor(
    () =>
      expect(
        d.core.nodes
          .handle('peer-a')
          .libp2p.getConnections()
          .map((c) => c.remotePeer.toString()),
      ).toContain(peerId),
    { timeout: 30_000, interval: 50 },
  )

describe('topics between two daemons', () => {
  let a: TestDaemon
  let b: TestDaemon
  let ca: SwitchboardClient
  let cb: SwitchboardClient

  beforeAll(async () => {
    a = await startTestDaemon()
    b = await startPeerOf(a)
    await connectedTo(b, a.peerId)
    ;[ca, cb] = await Promise.all([a.client(), b.client()])
  })
  afterAll(async () => {
    await Promise.all([a?.destroy(), b?.destroy()])
  })

  it('subscribe and publish both ways: topicData carries the sender and the JSON data; peerChange and listpeers show the other side', async () => {
    const topic = 'chat'
    const changesA = record<PeerChange>(ca, 'peerChange')
    const changesB = record<PeerChange>(cb, 'peerChange')
    const bJoinedOnA = ca.waitFor<PeerChange>('peerChange', (p) => p.topic === topic && p.peerid === b.peerId, 30_000)
    await ca.call('subscribe', { topic })
    // B subscribes after A: A's subscription is already known, and is announced to B as a join
    const aJoinedOnB = cb.waitFor<PeerChange>('peerChange', (p) => p.topic === topic && p.peerid === a.peerId, 30_000)
    await expect(cb.call('subscribe', { topic })).resolves.toBeNull()
    expect(await bJoinedOnA).toEqual({ topic, peerid: b.peerId, joined: true })
    expect(await aJoinedOnB).toEqual({ topic, peerid: a.peerId, joined: true })
    expect(await listPeers(ca, topic)).toEqual([b.peerId])
    expect(await listPeers(cb, topic)).toEqual([a.peerId])

    const onB = cb.waitFor<TopicData>('topicData', (p) => p.topic === topic, 30_000)
    await expect(ca.call('publish', { topic, data: { text: 'hi B', n: 1 } })).resolves.toBeNull()
    expect(await onB).toEqual({ topic, peerid: a.peerId, data: { text: 'hi B', n: 1 } })
    const fromB = ca.waitFor<TopicData>('topicData', (p) => p.topic === topic, 30_000)
    await cb.call('publish', { topic, data: ['hi A', null, 2.5] })
    expect(await fromB).toEqual({ topic, peerid: b.peerId, data: ['hi A', null, 2.5] })
    // one join each, nothing else
    expect(changesA.filter((p) => p.topic === topic)).toEqual([{ topic, peerid: b.peerId, joined: true }])
    expect(changesB.filter((p) => p.topic === topic)).toEqual([{ topic, peerid: a.peerId, joined: true }])

    const [actorA] = await listActors(ca, `topic:peer-a:${topic}`)
    expect(isSubscribed(actorA)).toBe(true)
    expect(actorA?.context as TopicView).toMatchObject({ refs: 1, peers: [b.peerId] })
  })

  it('unsubscribe: the other side gets peerChange left and listpeers forgets it; the topic actor stops', async () => {
    const topic = 'chat'
    const stopped = cb.waitFor<{ systemId: string }>('actor.stopped', (p) => p.systemId === `topic:peer-a:${topic}`, 30_000)
    await cb.call('actors.subscribe', { prefix: `topic:peer-a:${topic}` })
    const left = ca.waitFor<PeerChange>('peerChange', (p) => p.topic === topic && !p.joined, 30_000)
    await expect(cb.call('unsubscribe', { topic })).resolves.toBeNull()
    expect(await left).toEqual({ topic, peerid: b.peerId, joined: false })
    await stopped
    expect(await listPeers(ca, topic)).toEqual([])
    expect(await listActors(cb, `topic:peer-a:${topic}`)).toEqual([])
    expect(await codeOf(cb.call('unsubscribe', { topic }))).toBe(404)
    // B no longer gets the topic's messages: a later message on a topic B still has arrives alone
    const sentinel = 'chat-sentinel'
    await Promise.all([ca.call('subscribe', { topic: sentinel }), cb.call('subscribe', { topic: sentinel })])
    const stray = record<TopicData>(cb, 'topicData')
    const arrived = cb.waitFor<TopicData>('topicData', (p) => p.topic === sentinel, 30_000)
    await ca.call('publish', { topic, data: 'after leaving' })
    await ca.call('publish', { topic: sentinel, data: 'sentinel' })
    await arrived
    expect(stray.map((p) => p.topic)).toEqual([sentinel])
    await Promise.all([ca.call('unsubscribe', { topic: sentinel }), cb.call('unsubscribe', { topic: sentinel })])
  })

  it('publish without a subscription reaches the subscribers on the other daemon', async () => {
    const topic = 'fanout'
    await ca.call('subscribe', { topic })
    // B learns A's subscription from GossipSub without subscribing itself
    await vi.waitFor(async () => expect(await listPeers(cb, topic)).toEqual([a.peerId]), { timeout: 30_000, interval: 100 })
    const got = ca.waitFor<TopicData>('topicData', (p) => p.topic === topic, 30_000)
    await expect(cb.call('publish', { topic, data: { unsubscribed: true } })).resolves.toBeNull()
    expect(await got).toEqual({ topic, peerid: b.peerId, data: { unsubscribed: true } })
    expect(await listActors(cb, `topic:peer-a:${topic}`)).toEqual([])
    await ca.call('unsubscribe', { topic })
  })

  it('two connections bound to one local peer share one topic actor; each gets topicData; the last unsubscribe leaves', async () => {
    const topic = 'shared'
    const [c1, c2] = await Promise.all([a.client(), a.client()])
    await Promise.all([c1.call('subscribe', { topic }), c2.call('subscribe', { topic })])
    const actors = await listActors(ca, `topic:peer-a:${topic}`)
    expect(actors).toHaveLength(1)
    expect(actors[0]?.context).toMatchObject({ refs: 2 })
    expect(isSubscribed(actors[0])).toBe(true)

    await vi.waitFor(async () => expect(await listPeers(cb, topic)).toEqual([a.peerId]), { timeout: 30_000, interval: 100 })
    const both = Promise.all([c1, c2].map((c) => c.waitFor<TopicData>('topicData', (p) => p.topic === topic, 30_000)))
    await cb.call('publish', { topic, data: 'to both' })
    expect(await both).toEqual([
      { topic, peerid: b.peerId, data: 'to both' },
      { topic, peerid: b.peerId, data: 'to both' },
    ])

    await c1.call('unsubscribe', { topic })
    const remaining = await listActors(ca, `topic:peer-a:${topic}`)
    expect(remaining).toHaveLength(1)
    expect(remaining[0]?.context).toMatchObject({ refs: 1 })
    expect(isSubscribed(remaining[0])).toBe(true)
    // the remaining connection still gets the topic, the one that left does not
    const stray = record<TopicData>(c1, 'topicData')
    const onlyC2 = c2.waitFor<TopicData>('topicData', (p) => p.topic === topic && p.data === 'to c2', 30_000)
    await cb.call('publish', { topic, data: 'to c2' })
    await onlyC2
    expect(stray).toEqual([])

    const stopped = ca.waitFor<{ systemId: string }>('actor.stopped', (p) => p.systemId === `topic:peer-a:${topic}`, 30_000)
    await ca.call('actors.subscribe', { prefix: `topic:peer-a:${topic}` })
    await c2.call('unsubscribe', { topic })
    await stopped
    expect(await listActors(ca, `topic:peer-a:${topic}`)).toEqual([])
    await vi.waitFor(async () => expect(await listPeers(cb, topic)).toEqual([]), { timeout: 30_000, interval: 100 })
    await Promise.all([c1.close(), c2.close()])
  })

  it('a connection that closes releases its topics', async () => {
    const topic = 'closing'
    const c1 = await a.client()
    await Promise.all([c1.call('subscribe', { topic }), cb.call('subscribe', { topic })])
    const left = cb.waitFor<PeerChange>('peerChange', (p) => p.topic === topic && p.peerid === a.peerId && !p.joined, 30_000)
    await c1.close()
    await left
    await vi.waitFor(async () => expect(await listActors(ca, `topic:peer-a:${topic}`)).toEqual([]), { timeout: 30_000, interval: 100 })
    await cb.call('unsubscribe', { topic })
  })

  it('unsubscribe then subscribe at once (pipelined on one socket) ends subscribed with one reference', async () => {
    const topic = 'toggle'
    await Promise.all([ca.call('subscribe', { topic }), cb.call('subscribe', { topic })])
    const [off, on] = await Promise.all([ca.call('unsubscribe', { topic }), ca.call('subscribe', { topic })])
    expect([off, on]).toEqual([null, null])
    const [actor] = await listActors(ca, `topic:peer-a:${topic}`)
    expect(isSubscribed(actor)).toBe(true)
    expect(actor?.context).toMatchObject({ refs: 1 })
    const got = ca.waitFor<TopicData>('topicData', (p) => p.topic === topic, 30_000)
    await cb.call('publish', { topic, data: 'still here' })
    expect((await got).data).toBe('still here')
    await Promise.all([ca.call('unsubscribe', { topic }), cb.call('unsubscribe', { topic })])
  })

  it('subscribe then unsubscribe at once (pipelined): both answer null and the topic actor leaves, every time', async () => {
    const topic = 'blink'
    // the other daemon is on the topic, so a join can complete while the unsubscribe is on its way too
    await cb.call('subscribe', { topic })
    const { subscription } = await ca.call<{ subscription: string }>('actors.subscribe', { prefix: `topic:peer-a:${topic}` })
    for (let round = 0; round < 10; round++) {
      const stopped = ca.waitFor<{ systemId: string }>('actor.stopped', (p) => p.systemId === `topic:peer-a:${topic}`, 30_000)
      const results = await Promise.allSettled([ca.call('subscribe', { topic }), ca.call('unsubscribe', { topic })])
      expect(results).toEqual([
        { status: 'fulfilled', value: null },
        { status: 'fulfilled', value: null },
      ])
      await stopped
      expect(await listActors(ca, `topic:peer-a:${topic}`)).toEqual([])
    }
    await ca.call('actors.unsubscribe', { subscription })
    // the connection is not subscribed: a second unsubscribe says so, and a fresh subscribe works
    await expect(ca.call('unsubscribe', { topic })).rejects.toMatchObject({ code: 404 })
    await expect(ca.call('subscribe', { topic })).resolves.toBeNull()
    const got = ca.waitFor<TopicData>('topicData', (p) => p.topic === topic, 30_000)
    await cb.call('publish', { topic, data: 'after the blinks' })
    expect((await got).data).toBe('after the blinks')
    await Promise.all([ca.call('unsubscribe', { topic }), cb.call('unsubscribe', { topic })])
  })

  it('an unsubscribe in the same tick as the subscribe (topic actor still joining): the subscribe resolves, the actor leaves', async () => {
    const topic = 'same-tick'
    const topics = a.core.nodes.services('peer-a').topics
    const pushes: string[] = []
    const listener = { push: (method: string) => void pushes.push(method), onClose: () => () => {} }
    for (let round = 0; round < 5; round++) {
      const stopped = ca.waitFor<{ systemId: string }>('actor.stopped', (p) => p.systemId === `topic:peer-a:${topic}`, 30_000)
      const { subscription } = await ca.call<{ subscription: string }>('actors.subscribe', { prefix: `topic:peer-a:${topic}` })
      const subscribed = topics.subscribe(topic, listener)
      expect(a.core.actors.registry.get(`topic:peer-a:${topic}`)?.value).toBe('joining')
      expect(topics.unsubscribe(topic, listener)).toBe(true)
      await expect(subscribed).resolves.toBeUndefined()
      await stopped
      await ca.call('actors.unsubscribe', { subscription })
      expect(topics.isSubscribed(topic, listener)).toBe(false)
    }
    expect(pushes).toEqual([])
  })

  it('200 topics on one peer: all subscribed on both sides, one publish per topic arrives', async () => {
    const topics = Array.from({ length: 200 }, (_, i) => `bulk-${i}`)
    await Promise.all(topics.flatMap((topic) => [ca.call('subscribe', { topic }), cb.call('subscribe', { topic })]))
    for (const c of [ca, cb]) {
      const actors = await listActors(c, 'topic:peer-a:bulk-')
      expect(actors).toHaveLength(200)
      expect(actors.filter(isSubscribed)).toHaveLength(200)
    }
    const pending = new Set(topics)
    const all = new Promise<void>((resolve) => {
      const off = cb.on<TopicData>('topicData', (p) => {
        if (p.peerid === a.peerId && p.data === p.topic) pending.delete(p.topic)
        if (pending.size === 0) {
          off()
          resolve()
        }
      })
    })
    // both sides know the other is on every topic before A publishes
    await vi.waitFor(
      () => {
        const pubsub = a.core.nodes.handle('peer-a').libp2p.services.pubsub
        expect(topics.filter((t) => !pubsub.getSubscribers(t).some((p) => p.toString() === b.peerId))).toEqual([])
      },
      { timeout: 30_000, interval: 100 },
    )
    await Promise.all(topics.map((topic) => ca.call('publish', { topic, data: topic })))
    await vi.waitFor(() => expect([...pending]).toEqual([]), { timeout: 60_000, interval: 100 })
    await all
    await Promise.all(topics.flatMap((topic) => [ca.call('unsubscribe', { topic }), cb.call('unsubscribe', { topic })]))
    await vi.waitFor(async () => expect(await listActors(ca, 'topic:peer-a:bulk-')).toEqual([]), { timeout: 30_000, interval: 100 })
  })

  it('bad input: a topic over 1 KiB (in bytes) is 400 naming topic; unsubscribe of a topic not subscribed is 404', async () => {
    for (const topic of ['x'.repeat(1025), 'é'.repeat(513)]) {
      for (const method of ['subscribe', 'publish', 'unsubscribe', 'listpeers']) {
        const err = await ca.call(method, { topic, data: 1 }).catch((e: Error) => e)
        expect(err, `${method} ${topic.length}`).toMatchObject({ code: 400 })
        expect((err as Error).message).toMatch(/topic/)
      }
    }
    // exactly 1 KiB is a valid name
    await expect(ca.call('publish', { topic: 'y'.repeat(1024), data: 1 })).resolves.toBeNull()
    expect(await codeOf(ca.call('subscribe', { topic: '' }))).toBe(400)
    expect(await codeOf(ca.call('publish', { topic: 'no-data' }))).toBe(400)
    expect(await codeOf(ca.call('unsubscribe', { topic: 'never-subscribed' }))).toBe(404)
    expect(await listActors(ca, 'topic:peer-a:never-subscribed')).toEqual([])
  })

  it('peerChange left when the other daemon dies', async () => {
    const c = await startPeerOf(a)
    try {
      await connectedTo(a, c.peerId)
      const cc = await c.client()
      const topic = 'mortal'
      const joined = ca.waitFor<PeerChange>('peerChange', (p) => p.topic === topic && p.peerid === c.peerId && p.joined, 30_000)
      await Promise.all([ca.call('subscribe', { topic }), cc.call('subscribe', { topic })])
      await joined
      expect(await listPeers(ca, topic)).toContain(c.peerId)
      const left = ca.waitFor<PeerChange>('peerChange', (p) => p.topic === topic && p.peerid === c.peerId, 30_000)
      await c.destroy()
      expect(await left).toEqual({ topic, peerid: c.peerId, joined: false })
      expect(await listPeers(ca, topic)).not.toContain(c.peerId)
      const [actor] = await listActors(ca, `topic:peer-a:${topic}`)
      expect((actor?.context as TopicView | undefined)?.peers).not.toContain(c.peerId)
      await ca.call('unsubscribe', { topic })
    } finally {
      await c.destroy()
    }
  })
})
