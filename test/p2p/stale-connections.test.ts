import type { Connection } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import type { NodeHandle } from '../../src/p2p/node-factory.ts'
import { type StaleConnection, StaleConnectionCheck } from '../../src/p2p/stale-connections.ts'
import { startRawNode } from '../support/raw-node.ts'
import { type TcpRelay, tcpRelay } from '../support/tcp-relay.ts'

/*
 * Two real nodes over 127.0.0.1: B holds a connection to A through a relay we can freeze (a killed
 * peer over a transport with no close), then opens a second, direct one, as a restarted peer does.
 */
describe('StaleConnectionCheck: a peer that connects again', () => {
  const nodes: NodeHandle[] = []
  let relay: TcpRelay | undefined
  afterEach(async () => {
    await relay?.close()
    await Promise.all(nodes.splice(0).map((n) => n.stop()))
  })
  const node = async () => {
    const n = await startRawNode()
    nodes.push(n)
    return n
  }

  /** A and B with two open connections: the first through the relay, the second direct (A's side of each). */
  const twoConnections = async () => {
    const a = await node()
    const b = await node()
    const aAddr = a.libp2p.getMultiaddrs()[0]!
    relay = await tcpRelay(Number(aAddr.toString().split('/')[4]))
    const aId = a.libp2p.peerId.toString()
    // A's side of each connection, as A announces them (B's dial settles before A has its side)
    const opened: Connection[] = []
    const waiters: Array<() => void> = []
    a.libp2p.addEventListener('connection:open', (e) => {
      opened.push(e.detail)
      waiters.shift()?.()
    })
    const nth = async (n: number) => {
      while (opened.length < n) await new Promise<void>((resolve) => waiters.push(resolve))
      return opened[n - 1]!
    }
    await b.libp2p.dial(multiaddr(`/ip4/127.0.0.1/tcp/${relay.port}/p2p/${aId}`))
    const first = await nth(1)
    await b.libp2p.dial(aAddr, { force: true })
    const second = await nth(2)
    expect(a.libp2p.getConnections(b.libp2p.peerId)).toEqual([first, second])
    return { a, b, first, second }
  }
  const check = (a: NodeHandle, stale: StaleConnection[], timeoutMs: number) =>
    new StaleConnectionCheck({
      connections: (peer) => a.libp2p.getConnections(peer),
      timeoutMs,
      now: Date.now,
      onStale: (s) => stale.push(s),
    })

  it('aborts the older connection when it does not answer a ping, and says which it was', async () => {
    const { a, b, first, second } = await twoConnections()
    relay!.freeze()
    const stale: StaleConnection[] = []
    await check(a, stale, 500).opened(second)
    expect(first.status).not.toBe('open')
    expect(second.status).toBe('open')
    expect(a.libp2p.getConnections(b.libp2p.peerId)).toEqual([second])
    expect(stale).toEqual([
      {
        peerId: b.libp2p.peerId.toString(),
        direction: 'inbound',
        addr: first.remoteAddr.toString(),
        openMs: expect.any(Number),
        reason: 'no answer to a ping within 500 ms after the peer connected again',
      },
    ])
  })

  it('keeps an older connection that answers (two live connections, as crossing dials leave)', async () => {
    const { a, b, first, second } = await twoConnections()
    const stale: StaleConnection[] = []
    await check(a, stale, 5_000).opened(second)
    expect(stale).toEqual([])
    expect(first.status).toBe('open')
    expect(a.libp2p.getConnections(b.libp2p.peerId)).toHaveLength(2)
  })

  it('checks each older connection once, however many connections open meanwhile', async () => {
    const { a, first, second } = await twoConnections()
    relay!.freeze()
    const stale: StaleConnection[] = []
    const c = check(a, stale, 500)
    await Promise.all([c.opened(second), c.opened(second)])
    expect(first.status).not.toBe('open')
    expect(stale).toHaveLength(1)
  })
})
