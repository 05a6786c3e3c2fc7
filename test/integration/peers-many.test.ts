import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import { defaultConfig } from '../../src/config.ts'
import { createNode, type NodeHandle } from '../../src/p2p/node-factory.ts'
import type { peersPublicContext } from '../../src/machines/peers/peers.machine.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'
import { dialsOf, PeerStates } from '../support/peers.ts'
import { freePorts } from '../support/process-daemon.ts'

interface ConnectResult {
  success: boolean
  connectionType: string
  error?: string
}

/** A bare Switchboard-flavoured libp2p node on loopback: lighter than a daemon, enough to be dialled. */
async function remoteNode(): Promise<NodeHandle> {
  return createNode({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: [],
    mdns: false,
    dhtProtocol: defaultConfig('/unused').dhtProtocol,
    allowPrivateAddresses: true,
  })
}

describe('many remote peers', () => {
  let a: TestDaemon
  let client: SwitchboardClient
  let states: PeerStates
  const remotes: NodeHandle[] = []

  beforeAll(async () => {
    a = await startTestDaemon()
    client = await a.client()
    states = await PeerStates.bind(client)
    // one at a time: ten Helia nodes starting at once load two cores for seconds
    for (let i = 0; i < 10; i++) remotes.push(await remoteNode())
  })
  afterAll(async () => {
    await Promise.allSettled(remotes.map((r) => r.stop()))
    await a?.destroy()
  })

  it('connectMany reaches 10 peers with never more than `concurrency` dials in flight', async () => {
    const ids = remotes.map((r) => r.libp2p.peerId.toString())
    for (const r of remotes) {
      for (const addr of r.libp2p.getMultiaddrs())
        a.core.stores.addressBook.add(addr.toString(), { peerId: r.libp2p.peerId.toString(), source: 'manual' })
    }
    const dials = dialsOf(a)
    dials.max = 0
    const { results } = await client.call<{ results: Record<string, ConnectResult> }>('peers.connectMany', { peerIds: ids, concurrency: 3 })
    expect(Object.keys(results).sort()).toEqual([...ids].sort())
    for (const id of ids) expect(results[id], id).toEqual({ success: true, connectionType: 'direct' })
    // three start together (each dial takes a network round trip), and a fourth never joins them
    expect(dials.max).toBe(3)
    expect(dials.inFlight).toBe(0)
    for (const id of ids) await states.until(id, (s) => s.status === 'connected')
    const { peers } = await client.call<{ peers: { peerId: string; status: string }[] }>('peers.list')
    expect(peers.filter((p) => ids.includes(p.peerId) && p.status === 'connected')).toHaveLength(10)
  })

  it('ensureConnected reports all connected without dialling again', async () => {
    const ids = remotes.map((r) => r.libp2p.peerId.toString())
    const dials = dialsOf(a)
    dials.max = 0
    const answer = await client.call<{ allConnected: boolean; results: Record<string, ConnectResult> }>('peers.ensureConnected', {
      peerIds: ids,
    })
    expect(answer.allConnected).toBe(true)
    expect(dials.max).toBe(0)
  })

  it('peers that were neither known nor added lose their actors when they leave', async () => {
    const ids = remotes.map((r) => r.libp2p.peerId.toString())
    const stopped = ids.map((id) =>
      client.waitFor<{ systemId: string }>('actor.stopped', (p) => p.systemId === `peer:peer-a:${id}`, 60_000),
    )
    await client.call('actors.subscribe', { prefix: 'peer:peer-a:' })
    await Promise.all(remotes.splice(0).map((r) => r.stop()))
    await Promise.all(stopped)
    const { peers } = await client.call<{ peers: { peerId: string }[] }>('peers.list')
    expect(peers.filter((p) => ids.includes(p.peerId))).toEqual([])
    // the shards' own counts agree: nothing is left behind for these peers
    const shards = a.core.actors.registry.list('peers:peer-a:')
    expect(shards.length).toBeGreaterThan(0)
    expect(shards.reduce((n, s) => n + (s.context as ReturnType<typeof peersPublicContext>).count, 0)).toBe(0)
  })

  it('a dead address fails after 3 tries, 1 s apart by default, naming the reason', async () => {
    const port = await freePorts(1)
    const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const addr = `/ip4/127.0.0.1/tcp/${port}/p2p/${id}`
    a.core.stores.addressBook.add(addr, { peerId: id, source: 'manual' })
    const activity: { type: string; peerId?: string; message: string }[] = []
    const off = client.on<{ type: string; peerId?: string; message: string }>('activity', (x) => {
      if (x.peerId === id) activity.push(x)
    })
    const result = await client.call<ConnectResult>('peers.connect', { peerId: id })
    expect(result.success).toBe(false)
    expect(result.connectionType).toBe('none')
    expect(result.error).toContain(`127.0.0.1/tcp/${port}`)
    expect(result.error).toMatch(/ECONNREFUSED|refused/i)
    const failed = await states.until(id, (s) => s.status === 'failed')
    expect(failed.lastError).toBe(result.error)
    expect(failed.failures).toBe(3)
    expect(states.statuses(id)).toEqual(['disconnected', 'connecting', 'failed'])
    // the activity feed told the client about every try and why it failed
    await vi.waitFor(() => expect(activity.filter((x) => x.type === 'error')).toHaveLength(3))
    off()
    expect(activity.map((x) => x.type)).toEqual(['info', 'error', 'info', 'error', 'info', 'error'])
    expect(activity.at(-1)?.message).toContain(result.error)
    // every try went to the address and was recorded against it
    expect(a.core.stores.addressBook.get(addr)).toMatchObject({ attempts: 3, failures: 3, successes: 0 })
    // our own failed dials cost the peer little: a bad network never bans anyone
    const { peers } = await client.call<{ peers: { peerId: string; score: number; failures: number; bannedUntil?: number }[] }>(
      'reputation.list',
    )
    const entry = peers.find((p) => p.peerId === id)
    expect(entry).toMatchObject({ failures: 3 })
    expect(entry?.score).toBeGreaterThanOrEqual(-3)
    expect(entry?.bannedUntil).toBeUndefined()
    // a failed peer that is neither known nor added stays listed until a client decides
    const { peers: listed } = await client.call<{ peers: { peerId: string; status: string }[] }>('peers.list')
    expect(listed.find((p) => p.peerId === id)?.status).toBe('failed')
  })
})
