import { afterEach, describe, expect, it } from 'vitest'
import type { PeerState } from '../../src/server/peer-state.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'
import { PeerStates, teachAddress } from '../support/peers.ts'

/** The statuses a client sees in peer.state pushes and peers.list, as the peer actor's state tags say. */
describe('peer status on real nodes', () => {
  const owned: TestDaemon[] = []
  afterEach(async () => {
    await Promise.allSettled(owned.splice(0).map((d) => d.destroy()))
  })

  it('an added peer whose daemon goes away is pushed as backoff, and the retries as connecting', async () => {
    const [a, b] = await Promise.all([startTestDaemon({ peerRetryMaxMs: 500 }), startTestDaemon()])
    owned.push(a, b)
    const client = await a.client()
    const states = await PeerStates.bind(client)
    teachAddress(a, b)
    await client.call('addpeers', { peerIds: [b.peerId] })
    await states.until(b.peerId, (s) => s.status === 'connected')

    const lost = states.next(b.peerId, (s) => s.status === 'backoff')
    await b.destroy()
    const backoff = await lost
    expect(backoff).toMatchObject({ peerId: b.peerId, added: true, connectionType: 'none', status: 'backoff' })
    // the retry that follows is connecting, and a failed one is backoff again
    const failedRetry = await states.until(b.peerId, (s) => s.status === 'backoff' && s.failures >= 2)
    expect(failedRetry.lastError).toMatch(/ECONNREFUSED|refused/i)
    const statuses = states.statuses(b.peerId)
    const away = statuses.indexOf('backoff')
    expect(statuses.slice(away - 1, away + 3), statuses.join(' ')).toEqual(['connected', 'backoff', 'connecting', 'backoff'])
    // peers.list agrees with the pushes
    const { peers } = await client.call<{ peers: PeerState[] }>('peers.list')
    expect(['backoff', 'connecting']).toContain(peers.find((p) => p.peerId === b.peerId)?.status)
  })
})
