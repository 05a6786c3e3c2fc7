import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import type { ActorSnapshot } from '../../src/actors/supervisor/actor-registry.ts'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import type { Config } from '../../src/config.ts'
import type { NodeHandle } from '../../src/p2p/node-factory.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'
import { startRawNode } from '../support/raw-node.ts'

const utf8 = new TextEncoder()
const WAIT = { timeout: 30_000, interval: 20 }

/** A stock libp2p node (a browser, say) that knows only the daemon, and what it heard on each topic. */
interface Browser {
  node: NodeHandle
  id: string
  heard: Map<string, string[]>
}

async function browserOf(d: TestDaemon): Promise<Browser> {
  const node = await startRawNode()
  const heard = new Map<string, string[]>()
  node.libp2p.services.pubsub.addEventListener('message', (e) => {
    const list = heard.get(e.detail.topic) ?? []
    list.push(new TextDecoder().decode(e.detail.data))
    heard.set(e.detail.topic, list)
  })
  await node.libp2p.dial(multiaddr(d.core.nodes.info('peer-a').addrs.find((a) => a.includes('/127.0.0.1/tcp/')) ?? ''))
  return { node, id: node.libp2p.peerId.toString(), heard }
}

/** GossipSub's mesh for a topic: the class has it, its exported interface does not. */
const meshOf = (pubsub: unknown, topic: string) => (pubsub as { getMeshPeers(topic: string): string[] }).getMeshPeers(topic)
const hubTopics = (d: TestDaemon) => d.core.nodes.services('peer-a').gossipHub.topics().sort()
const topicActors = async (c: SwitchboardClient, topic: string) =>
  (await c.call<{ actors: ActorSnapshot[] }>('actors.list', { prefix: `topic:peer-a:${topic}` })).actors
const isSubscribed = (s: ActorSnapshot | undefined) => JSON.stringify(s?.value) === JSON.stringify({ joined: 'subscribed' })

describe('peer-a as a GossipSub hub for peers that know only the daemon', () => {
  let d: TestDaemon | undefined
  const browsers: Browser[] = []

  const start = async (overrides: Partial<Config>) => {
    d = await startTestDaemon(overrides)
    const [b1, b2] = await Promise.all([browserOf(d), browserOf(d)])
    browsers.push(b1 as Browser, b2 as Browser)
    // they know each other only through the daemon
    expect(b1?.node.libp2p.getConnections(b2?.node.libp2p.peerId)).toEqual([])
    return { d, b1: b1 as Browser, b2: b2 as Browser, client: await d.client() }
  }
  afterEach(async () => {
    await Promise.all(browsers.splice(0).map((b) => b.node.stop()))
    await d?.destroy()
    d = undefined
  })
  afterAll(async () => {
    await d?.destroy()
  })

  /** Both browsers subscribe to `topic`, and each knows the daemon is on it once the hub joins. */
  const bothOn = async (daemon: TestDaemon, b1: Browser, b2: Browser, topic: string) => {
    b1.node.libp2p.services.pubsub.subscribe(topic)
    b2.node.libp2p.services.pubsub.subscribe(topic)
    const pubsub = daemon.core.nodes.handle('peer-a').libp2p.services.pubsub
    await vi.waitFor(() => expect(meshOf(pubsub, topic).sort()).toEqual([b1.id, b2.id].sort()), WAIT)
    for (const b of [b1, b2]) await vi.waitFor(() => expect(meshOf(b.node.libp2p.services.pubsub, topic)).toEqual([daemon.peerId]), WAIT)
  }

  it('all (the default): two browsers exchange messages on a topic no WebSocket client subscribed to; the hub holds the topic actor and leaves with the last browser', async () => {
    const { d, b1, b2, client } = await start({})
    const topic = 'browsers-only'
    await bothOn(d, b1, b2, topic)
    expect(hubTopics(d)).toEqual([topic])
    // the hub's subscription is a topic actor with one reference, like a client's
    const [actor] = await topicActors(client, topic)
    expect(isSubscribed(actor)).toBe(true)
    expect(actor?.context).toMatchObject({ refs: 1 })
    // a peer joins the actor once GossipSub can send to it (join-when-sendable.ts): a moment after its subscription
    await vi.waitFor(async () => {
      const [now] = await topicActors(client, topic)
      expect([...((now?.context as { peers?: string[] } | undefined)?.peers ?? [])].sort()).toEqual([b1.id, b2.id].sort())
    }, WAIT)

    await b1.node.libp2p.services.pubsub.publish(topic, utf8.encode('hello from tab 1'))
    await vi.waitFor(() => expect(b2.heard.get(topic)).toEqual(['hello from tab 1']), WAIT)
    await b2.node.libp2p.services.pubsub.publish(topic, utf8.encode('and back from tab 2'))
    await vi.waitFor(() => expect(b1.heard.get(topic)).toEqual(['and back from tab 2']), WAIT)

    // one browser leaves: the hub stays for the other; the last one leaves: so does the hub
    b1.node.libp2p.services.pubsub.unsubscribe(topic)
    await vi.waitFor(async () => expect((await topicActors(client, topic))[0]?.context).toMatchObject({ peers: [b2.id], refs: 1 }), WAIT)
    expect(hubTopics(d)).toEqual([topic])
    b2.node.libp2p.services.pubsub.unsubscribe(topic)
    await vi.waitFor(async () => expect(await topicActors(client, topic)).toEqual([]), WAIT)
    expect(hubTopics(d)).toEqual([])
  })

  it('all: a client subscription and the hub share the topic actor; reserved names are never joined; at most gossipHubMaxTopics, a freed place goes to a waiting topic', async () => {
    const { d, b1, client } = await start({ gossipHubMaxTopics: 2 })
    const pubsub = b1.node.libp2p.services.pubsub
    await client.call('subscribe', { topic: 't1' })
    for (const t of ['t1', 't2', 'switchboard/not-yours', 't3']) pubsub.subscribe(t)
    await vi.waitFor(() => expect(hubTopics(d)).toEqual(['t1', 't2']), WAIT)
    await vi.waitFor(async () => expect((await topicActors(client, 't1'))[0]?.context).toMatchObject({ refs: 2 }), WAIT)
    expect(await topicActors(client, 't3')).toEqual([])
    expect(await topicActors(client, 'switchboard/not-yours')).toEqual([])

    pubsub.unsubscribe('t2')
    await vi.waitFor(() => expect(hubTopics(d)).toEqual(['t1', 't3']), WAIT)
    await vi.waitFor(async () => expect(isSubscribed((await topicActors(client, 't3'))[0])).toBe(true), WAIT)
    await vi.waitFor(async () => expect(await topicActors(client, 't2')).toEqual([]), WAIT)

    // the client's subscription outlives the hub's: the browser leaves t1, the actor stays with refs 1
    pubsub.unsubscribe('t1')
    await vi.waitFor(() => expect(hubTopics(d)).toEqual(['t3']), WAIT)
    await vi.waitFor(async () => expect((await topicActors(client, 't1'))[0]?.context).toMatchObject({ refs: 1 }), WAIT)
    // a browser that goes away takes its subscriptions with it
    await b1.node.stop()
    await vi.waitFor(() => expect(hubTopics(d)).toEqual([]), WAIT)
    await vi.waitFor(async () => expect(await topicActors(client, 't3')).toEqual([]), WAIT)
  })

  it('a list: exactly those topics, held from the start, and relayed; others are not', async () => {
    const { d, b1, b2, client } = await start({ gossipHub: ['listed'] })
    await vi.waitFor(async () => expect(isSubscribed((await topicActors(client, 'listed'))[0])).toBe(true), WAIT)
    expect(hubTopics(d)).toEqual(['listed'])
    await bothOn(d, b1, b2, 'listed')
    await b1.node.libp2p.services.pubsub.publish('listed', utf8.encode('on the list'))
    await vi.waitFor(() => expect(b2.heard.get('listed')).toEqual(['on the list']), WAIT)
    b1.node.libp2p.services.pubsub.subscribe('unlisted')
    b2.node.libp2p.services.pubsub.subscribe('unlisted')
    const daemonPubsub = d.core.nodes.handle('peer-a').libp2p.services.pubsub
    await vi.waitFor(() => expect(daemonPubsub.getSubscribers('unlisted').map(String).sort()).toEqual([b1.id, b2.id].sort()), WAIT)
    await b1.node.libp2p.services.pubsub.publish('unlisted', utf8.encode('nobody relays this'))
    // published after it, the same way: had the daemon relayed the first, b2 would have it by now
    await b1.node.libp2p.services.pubsub.publish('listed', utf8.encode('sentinel'))
    await vi.waitFor(() => expect(b2.heard.get('listed')).toEqual(['on the list', 'sentinel']), WAIT)
    expect(b2.heard.get('unlisted')).toBeUndefined()
    expect(hubTopics(d)).toEqual(['listed'])
  })

  it('off: two browsers that know only the daemon do not hear each other on a topic no client subscribed to', async () => {
    const { d, b1, b2, client } = await start({ gossipHub: 'off' })
    const topic = 'browsers-only'
    // a topic a WebSocket client holds is relayed (as before the hub existed): the sentinel's path
    await client.call('subscribe', { topic: 'sentinel' })
    await bothOn(d, b1, b2, 'sentinel')
    b1.node.libp2p.services.pubsub.subscribe(topic)
    b2.node.libp2p.services.pubsub.subscribe(topic)
    const daemonPubsub = d.core.nodes.handle('peer-a').libp2p.services.pubsub
    await vi.waitFor(() => expect(daemonPubsub.getSubscribers(topic).map(String).sort()).toEqual([b1.id, b2.id].sort()), WAIT)
    await b1.node.libp2p.services.pubsub.publish(topic, utf8.encode('lost'))
    await b1.node.libp2p.services.pubsub.publish('sentinel', utf8.encode('sentinel'))
    // published after it, the same way: had the daemon relayed the first, b2 would have it by now
    await vi.waitFor(() => expect(b2.heard.get('sentinel')).toEqual(['sentinel']), WAIT)
    expect(b2.heard.get(topic)).toBeUndefined()
    expect(await topicActors(client, topic)).toEqual([])
    expect(hubTopics(d)).toEqual([])
  })
})
