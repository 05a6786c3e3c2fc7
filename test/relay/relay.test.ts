import { peerIdFromString } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import type { PeerState } from '../../src/server/peer-state.ts'
import { startTestDaemon, type TestDaemon, tcpAddrOf } from '../support/daemon.ts'
import { LOOPBACK_DEFAULT_LISTEN } from '../support/listen.ts'
import { PeerStates } from '../support/peers.ts'
import { watchActors } from '../support/watch-actors.ts'

interface ConnectResult {
  success: boolean
  connectionType: string
  error?: string
}

/**
 * R relays (the default, on every default transport); A sits "behind" R: it listens on /p2p-circuit, so it takes a reservation
 * on R once connected and advertises an address through R; B knows only that address.
 */
describe('circuit relay', () => {
  let r: TestDaemon
  let a: TestDaemon
  let b: TestDaemon
  let cr: SwitchboardClient
  let ca: SwitchboardClient
  let cb: SwitchboardClient

  beforeAll(async () => {
    // the relay on the default configuration's transports (TCP, WebSockets, WebRTC-direct)
    r = await startTestDaemon({ listen: LOOPBACK_DEFAULT_LISTEN })
    ;[a, b] = await Promise.all([startTestDaemon({ listen: ['/ip4/127.0.0.1/tcp/0', '/p2p-circuit'] }), startTestDaemon()])
    ;[cr, ca, cb] = await Promise.all([r.client(), a.client(), b.client()])
  })
  afterAll(async () => {
    await Promise.all([r, a, b].map((x) => x?.destroy().catch(() => {})))
  })

  it('a peer behind the relay takes a reservation: the relay actor shows it, node.info lists the relayed address', async () => {
    const relayId = `relay:peer-a`
    const watch = await watchActors(cr, relayId)
    expect(watch.latest(relayId)).toMatchObject({ value: { on: 'idle' }, context: { reservations: 0 } })
    expect(await ca.call<ConnectResult>('peers.connect', { peerId: r.peerId, addrs: [tcpAddrOf(r)] })).toMatchObject({ success: true })
    const reserved = await watch.until(relayId, (s) => (s.context as { reservations: number }).reservations === 1, 30_000)
    expect(reserved.value).toEqual({ on: 'reserved' })
    expect(reserved.context).toMatchObject({ limits: { maxReservations: 32, durationLimitSeconds: 120, dataLimitBytes: 1048576 } })
    // A's own view: an address through R
    const info = await waitForRelayedAddr(ca, r.peerId)
    expect(
      info.some((x) => x.endsWith(`/p2p/${r.peerId}/p2p-circuit/p2p/${a.peerId}`)),
      info.join(' '),
    ).toBe(true)
    // the relay protects the reserved peer from its pruner
    expect(r.core.peers.isProtected('peer-a', a.peerId)).toBe(true)
    watch.stop()
  })

  it('a daemon that knows only the relayed address reaches the peer through the relay', async () => {
    const relayed = (await waitForRelayedAddr(ca, r.peerId)).find((x) => x.includes('/p2p-circuit/')) as string
    const watch = await watchActors(cr, 'relay:peer-a')
    const statesB = await PeerStates.bind(cb)
    const result = await cb.call<ConnectResult>('peers.connect', { peerId: a.peerId, addrs: [relayed] })
    expect(result.success).toBe(true)
    await watch.until('relay:peer-a', (s) => (s.context as { circuitsTotal: number }).circuitsTotal >= 1, 30_000)
    // first through the relay, then DCUtR upgrades it to a direct connection (both sides dialable
    // here), and connectionType follows: relay, then direct, pushed as they happen
    await statesB.until(a.peerId, (s: PeerState) => s.connectionType === 'direct')
    const types = statesB
      .all(a.peerId)
      .map((s) => s.connectionType)
      .filter((t, i, list) => t !== 'none' && (i === 0 || list[i - 1] !== t))
    expect(types).toEqual(['relay', 'direct'])
    expect(
      b.core.nodes
        .handle('peer-a')
        .libp2p.getConnections(peerIdFromString(a.peerId))
        .some((c) => !c.remoteAddr.toString().includes('/p2p-circuit')),
    ).toBe(true)
    watch.stop()
  })

  it('a reservation is released as soon as its peer goes, not an hour later', async () => {
    const watch = await watchActors(cr, 'relay:peer-a')
    expect(watch.latest('relay:peer-a')?.context).toMatchObject({ reservations: 1 })
    await a.destroy()
    const released = await watch.until('relay:peer-a', (s) => (s.context as { reservations: number }).reservations === 0, 30_000)
    expect(released.value).toEqual({ on: 'idle' })
    expect(r.core.nodes.handle('peer-a').libp2p.services.relay?.reservations.size).toBe(0)
    watch.stop()
  })
})

/** A's relayed addresses through `relay`, once it has them: its node actor's addrs follow libp2p's. */
async function waitForRelayedAddr(client: SwitchboardClient, relay: string): Promise<string[]> {
  const watch = await watchActors(client, 'node:peer-a')
  try {
    const through = (addrs: unknown) => (addrs as string[]).filter((x) => x.includes(`/p2p/${relay}/p2p-circuit`))
    await watch.until('node:peer-a', (s) => through((s.context as { addrs: string[] }).addrs).length > 0, 30_000)
    const info = await client.call<{ addrs: string[]; reachability: { relayed: string[] } }>('node.info')
    expect(info.reachability.relayed).toEqual(through(info.addrs))
    return through(info.addrs)
  } finally {
    watch.stop()
  }
}
