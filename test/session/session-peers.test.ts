import { connect } from 'node:net'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { ActorSnapshot } from '../../src/actors/supervisor/actor-registry.ts'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'
import { codeOf } from '../support/peers.ts'

interface PeerResult {
  peerid: string
  peerkey: string
  version: string
}
interface NodeInfo {
  peerid: string
  alias: string
  addrs: string[]
}

/** Resolve with the error code of a plain TCP connect to 127.0.0.1:port, or 'connected'. */
function tcpConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve('connected')
    })
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message))
  })
}

const listActors = async (c: SwitchboardClient, prefix: string) =>
  (await c.call<{ actors: ActorSnapshot[] }>('actors.list', { prefix })).actors

describe('session peers: one local libp2p peer per connection that calls `peer`', () => {
  let d: TestDaemon
  /** Watches the daemon on peer-a from outside the sessions under test. */
  let observer: SwitchboardClient

  beforeAll(async () => {
    d = await startTestDaemon()
    observer = await d.client()
  })
  afterAll(async () => {
    await d?.destroy()
  })

  it('`peer {}` creates a fresh identity under its own node actor; the returned key restores it later', async () => {
    const tab = await d.client()
    const created = await tab.call<PeerResult>('peer', {})
    expect(created.version).toBe(d.core.version)
    expect(created.peerid).not.toBe(d.peerId)
    // the key is base64 of libp2p's protobuf private key and is the identity reported
    expect(created.peerkey).toMatch(/^[A-Za-z0-9+/]+={0,2}$/)
    expect(peerIdFromPrivateKey(privateKeyFromProtobuf(Buffer.from(created.peerkey, 'base64'))).toString()).toBe(created.peerid)

    const info = await tab.call<NodeInfo>('node.info')
    expect(info).toMatchObject({ peerid: created.peerid, alias: 'peer-b', version: d.core.version })
    const [node] = await listActors(observer, 'node:peer-b')
    expect(node).toMatchObject({ systemId: 'node:peer-b', kind: 'node', value: 'running', parent: 'supervisor' })
    expect(await listActors(observer, 'dht:peer-b')).toHaveLength(1)

    const other = await d.client()
    const second = await other.call<PeerResult>('peer', {})
    expect(second.peerid).not.toBe(created.peerid)
    expect(await other.call<NodeInfo>('node.info')).toMatchObject({ alias: 'peer-c', peerid: second.peerid })

    // while the first tab is open its peer id is taken, on any socket
    const thief = await d.client()
    expect(await codeOf(thief.call('peer', { peerkey: created.peerkey }))).toBe(409)

    const stopped = observer.waitFor<{ systemId: string }>('actor.stopped', (p) => p.systemId === 'node:peer-b', 60_000)
    await observer.call('actors.subscribe', { prefix: 'node:peer-b' })
    await tab.close()
    await stopped
    // the same key on a new connection brings the same peer id back (the refused socket is still free to retry)
    const restored = await thief.call<PeerResult>('peer', { peerkey: created.peerkey })
    expect(restored).toEqual({ peerid: created.peerid, peerkey: created.peerkey, version: d.core.version })
    expect((await thief.call<NodeInfo>('node.info')).peerid).toBe(created.peerid)
    await Promise.all([other.close(), thief.close()])
  })

  it('`peer` twice on one connection, or after another call bound it to peer-a, is 409', async () => {
    const tab = await d.client()
    await tab.call('peer', {})
    expect(await codeOf(tab.call('peer', {}))).toBe(409)

    const plain = await d.client()
    expect(await plain.call<NodeInfo>('node.info')).toMatchObject({ alias: 'peer-a', peerid: d.peerId })
    expect(await codeOf(plain.call('peer', {}))).toBe(409)
    expect(await plain.call<NodeInfo>('node.info')).toMatchObject({ alias: 'peer-a' })
    await Promise.all([tab.close(), plain.close()])
  })

  it('a peerkey that is not base64, or base64 of no key, is 400 naming peerkey; the socket can still call `peer`', async () => {
    const tab = await d.client()
    for (const peerkey of ['not base64!', 'AAAA', Buffer.from('{"a":1}').toString('base64')]) {
      const err = await tab.call('peer', { peerkey }).catch((e: Error) => e)
      expect(err, peerkey).toMatchObject({ code: 400 })
      expect(String((err as Error).message), peerkey).toMatch(/peerkey/)
    }
    const ok = await tab.call<PeerResult>('peer', {})
    expect((await tab.call<NodeInfo>('node.info')).peerid).toBe(ok.peerid)
    await tab.close()
  })

  it('closing the socket stops the session peer and releases its actors, listen port and supervisor entry', async () => {
    const tab = await d.client()
    await tab.call('peer', {})
    const { alias, addrs } = await tab.call<NodeInfo>('node.info')
    await tab.call('subscribe', { topic: 'release-me' })
    const owned = (await listActors(observer, '')).map((a) => a.systemId).filter((id) => id.split(':')[1] === alias)
    expect(owned).toEqual(expect.arrayContaining([`node:${alias}`, `dht:${alias}`, `topic:${alias}:release-me`]))
    const supervisor = async () => (await listActors(observer, 'supervisor'))[0]?.context as { nodes: Record<string, unknown> }
    expect(Object.keys((await supervisor()).nodes)).toContain(alias)
    const ports = addrs
      .map((a) => multiaddr(a).getComponents())
      .filter((c) => c[0]?.value === '127.0.0.1' && c[1]?.name === 'tcp' && c.length <= 3)
      .map((c) => Number(c[1]?.value))
    expect(ports.length).toBeGreaterThan(0)
    for (const port of ports) expect(await tcpConnect(port)).toBe('connected')

    const watch = await observer.call<{ subscription: string }>('actors.subscribe', { prefix: '' })
    const stopped = new Set<string>()
    const allStopped = new Promise<void>((resolve) => {
      const off = observer.on<{ subscription: string; systemId: string }>('actor.stopped', (p) => {
        if (p.subscription !== watch.subscription) return
        stopped.add(p.systemId)
        if (owned.every((id) => stopped.has(id))) {
          off()
          resolve()
        }
      })
    })
    await tab.close()
    await allStopped
    await observer.call('actors.unsubscribe', { subscription: watch.subscription })

    expect((await listActors(observer, '')).filter((a) => a.systemId.split(':')[1] === alias)).toEqual([])
    expect(Object.keys((await supervisor()).nodes)).not.toContain(alias)
    for (const port of ports) expect(await tcpConnect(port)).toBe('ECONNREFUSED')
    expect(d.core.nodes.get(alias)).toBeUndefined()
  })

  // the daemon bootstraps from nobody: the tabs' peers find each other only because they share a process
  it('two tabs on one daemon talk over a topic without any DHT', async () => {
    const [t1, t2] = await Promise.all([d.client(), d.client()])
    const [p1, p2] = await Promise.all([t1.call<PeerResult>('peer', {}), t2.call<PeerResult>('peer', {})])
    const topic = 'tabs'
    const joined1 = t1.waitFor<{ topic: string; peerid: string; joined: boolean }>(
      'peerChange',
      (p) => p.peerid === p2.peerid && p.joined,
      30_000,
    )
    await Promise.all([t1.call('subscribe', { topic }), t2.call('subscribe', { topic })])
    expect(await joined1).toEqual({ topic, peerid: p2.peerid, joined: true })
    expect((await t2.call<{ peers: string[] }>('listpeers', { topic })).peers).toContain(p1.peerid)

    const got = t2.waitFor<{ topic: string; peerid: string; data: unknown }>('topicData', (p) => p.topic === topic, 30_000)
    await t1.call('publish', { topic, data: { text: 'hello from tab 1', n: [1, 2] } })
    expect(await got).toEqual({ topic, peerid: p1.peerid, data: { text: 'hello from tab 1', n: [1, 2] } })
    await Promise.all([t1.close(), t2.close()])
  })

  it('a socket that closes while its peer is still starting leaves no node behind', async () => {
    const onlyPeerA = async () => {
      expect((await listActors(observer, 'node:')).map((a) => a.systemId)).toEqual(['node:peer-a'])
      expect(d.core.nodes.all().map((r) => r.spec.alias)).toEqual(['peer-a'])
    }
    // earlier tabs may still be stopping
    await vi.waitFor(onlyPeerA, { timeout: 60_000, interval: 100 })
    const watch = await observer.call<{ subscription: string }>('actors.subscribe', { prefix: 'node:' })
    const sessionNodeStopped = observer.waitFor<{ subscription: string; systemId: string }>(
      'actor.stopped',
      (p) => p.subscription === watch.subscription && p.systemId !== 'node:peer-a',
      60_000,
    )
    const tab = await d.client()
    const pending = tab.call('peer', {}).catch((e: Error) => e)
    await tab.close()
    expect(await pending).toMatchObject({ code: 0 })
    await sessionNodeStopped
    await vi.waitFor(onlyPeerA, { timeout: 60_000, interval: 100 })
    await observer.call('actors.unsubscribe', { subscription: watch.subscription })
  })
})
