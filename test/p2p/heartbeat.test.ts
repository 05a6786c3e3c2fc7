import 'reflect-metadata'
import '../../src/shims.ts'
import { noise } from '@libp2p/noise'
import type { Libp2p, Stream } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { afterEach, describe, expect, it } from 'vitest'
import { HEARTBEAT_MIN_TIMEOUT_MS, type NodeHandle } from '../../src/p2p/node-factory.ts'
import { eventually } from '../files/support.ts'
import { startRawNode } from '../support/raw-node.ts'

const PING = '/ipfs/ping/1.0.0'
/** Over libp2p's own 5 s least ping timeout, well under ours. */
const SLOW_MS = 7_000

const stops: Array<() => Promise<void>> = []
afterEach(async () => {
  await Promise.all(stops.splice(0).map((stop) => stop()))
})

/** A peer on a busy host: it answers pings, SLOW_MS late, and pings nobody itself. */
async function slowPeer(): Promise<Libp2p> {
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionMonitor: { enabled: false },
  })
  await node.handle(PING, async (stream: Stream) => {
    for await (const chunk of stream) {
      await new Promise((resolve) => setTimeout(resolve, SLOW_MS))
      stream.send(chunk.subarray())
    }
  })
  stops.push(async () => {
    await node.stop()
  })
  return node
}

describe('connection heartbeat', () => {
  it(`keeps a connection whose peer answers pings ${SLOW_MS / 1000} s late (libp2p alone aborts it after 5 s)`, async () => {
    expect(HEARTBEAT_MIN_TIMEOUT_MS).toBeGreaterThan(SLOW_MS)
    const slow = await slowPeer()
    const ours: NodeHandle = await startRawNode()
    stops.push(() => ours.stop())
    const conn = await ours.libp2p.dial(slow.getMultiaddrs()[0] as never)
    // the first heartbeat comes 10 s in; its round trip is measured once the late answer came
    const rtt = await eventually(
      async () => (conn.status === 'open' ? (conn.rtt ?? 0) : -1),
      (ms) => ms >= SLOW_MS || ms < 0,
      40_000,
    )
    expect(conn.status).toBe('open')
    expect(rtt).toBeGreaterThanOrEqual(SLOW_MS)
  }, 60_000)
})
