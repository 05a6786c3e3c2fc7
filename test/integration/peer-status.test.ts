import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { PeerState } from '../../src/server/peer-state.ts'
import { startTestDaemon, type TestDaemon, tempDir } from '../support/daemon.ts'
import { LOOPBACK_DEFAULT_LISTEN } from '../support/listen.ts'
import { PeerStates, teachAddress } from '../support/peers.ts'
import { type ProcessDaemon, startProcessDaemon } from '../support/process-daemon.ts'

/** The statuses a client sees in peer.state pushes and peers.list, as the peer actor's state tags say. */
describe('peer status on real nodes', () => {
  const owned: TestDaemon[] = []
  const processes: ProcessDaemon[] = []
  const dirs: string[] = []
  afterEach(async () => {
    await Promise.allSettled([...owned.splice(0), ...processes.splice(0)].map((d) => d.destroy()))
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
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

  it('a lost peer that comes back is found by the heal probe within seconds, long before its backoff retries (default listeners, own processes)', async () => {
    // A's own retries wait at least 60 s: only the probe can bring B back within the test's time
    const dirA = await tempDir()
    dirs.push(dirA)
    await writeFile(join(dirA, 'config.json'), JSON.stringify({ peerRetryInitialMs: 60_000, peerRetryMaxMs: 120_000 }))
    const dirB = await tempDir()
    dirs.push(dirB)
    const [a, b] = await Promise.all([
      startProcessDaemon({ dataDir: dirA, listen: LOOPBACK_DEFAULT_LISTEN }),
      startProcessDaemon({ dataDir: dirB, listen: LOOPBACK_DEFAULT_LISTEN }),
    ])
    processes.push(a, b)
    const client = await a.client()
    const states = await PeerStates.bind(client)
    await client.call('addpeers', { peerIds: b.addrs })
    await states.until(b.peerId, (s) => s.status === 'connected')

    const lost = states.next(b.peerId, (s) => s.status === 'backoff')
    await b.stop()
    await lost
    // B starts again on the same data directory: same identity, same remembered ports
    const again = await startProcessDaemon({ dataDir: dirB, listen: LOOPBACK_DEFAULT_LISTEN })
    processes.push(again)
    expect(again.peerId).toBe(b.peerId)
    // without the probe B comes back only when its own DHT happens to dial us (about 30 s here)
    const back = await states.until(b.peerId, (s) => s.status === 'connected', 15_000)
    expect(back).toMatchObject({ added: true, status: 'connected', failures: 0 })
    // it came back without a retry of the peer actor's own (that would show connecting after the loss)
    const statuses = states.statuses(b.peerId)
    expect(statuses.slice(statuses.lastIndexOf('backoff'))).toEqual(['backoff', 'connected'])
  })
})
