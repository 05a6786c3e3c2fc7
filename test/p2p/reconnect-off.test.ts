import { KEEP_ALIVE } from '@libp2p/interface'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type NodeHandle, reconnectQueueStarted } from '../../src/p2p/node-factory.ts'
import { startRawNode } from '../support/raw-node.ts'

/** The part of libp2p 3.x's reconnect queue this test reaches for (connection-manager/reconnect-queue.js). */
interface ReconnectQueueInternals {
  maybeReconnect(peerId: unknown): Promise<void>
  queue: { size: number }
}

const reconnectQueueOf = (n: NodeHandle) =>
  (n.libp2p as unknown as { components: { connectionManager: { reconnectQueue: ReconnectQueueInternals } } }).components.connectionManager
    .reconnectQueue

/** The peer actor is the one owner of redialling wanted peers: libp2p's own reconnect is off. */
describe("libp2p's reconnect queue on our nodes", () => {
  let a: NodeHandle
  let b: NodeHandle
  beforeAll(async () => {
    ;[a, b] = await Promise.all([startRawNode(), startRawNode()])
  })
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()])
  })

  it('is never started, so a KEEP_ALIVE peer that disconnects is not queued for a redial', async () => {
    expect(a.libp2p.services.reconnectOff.disabled).toBe(true)
    expect(reconnectQueueStarted(a.libp2p)).toBe(false)
    const [bAddr] = b.libp2p.getMultiaddrs()
    if (!bAddr) throw new Error('b listens nowhere')
    await a.libp2p.dial(bAddr)
    await a.libp2p.peerStore.merge(b.libp2p.peerId, { tags: { [KEEP_ALIVE]: { value: 100 } } })
    let dials = 0
    const cm = (a.libp2p as unknown as { components: { connectionManager: { openConnection: (...args: unknown[]) => unknown } } })
      .components.connectionManager
    const open = cm.openConnection.bind(cm)
    cm.openConnection = (...args: unknown[]) => {
      dials++
      return open(...args)
    }
    await a.libp2p.hangUp(b.libp2p.peerId)
    const queue = reconnectQueueOf(a)
    // what libp2p runs on peer:disconnect: it returns before queueing anything
    await queue.maybeReconnect(b.libp2p.peerId)
    expect(queue.queue.size).toBe(0)
    expect(dials).toBe(0)
    // and the tag stays: nothing gave up on the peer and stripped it
    expect((await a.libp2p.peerStore.get(b.libp2p.peerId)).tags.get(KEEP_ALIVE)?.value).toBe(100)
  })
})
