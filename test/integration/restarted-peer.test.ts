import { rm } from 'node:fs/promises'
import { afterEach, describe, expect, it } from 'vitest'
import type { Activity } from '../../src/actors/activity-log.ts'
import type { PeerState } from '../../src/server/peer-state.ts'
import { tempDir } from '../support/daemon.ts'
import { PeerStates } from '../support/peers.ts'
import { type ProcessDaemon, startProcessDaemon } from '../support/process-daemon.ts'

type ActivityPush = Omit<Activity, 'alias'>

/*
 * Daemons as users start them, on every default transport, one of them killed (SIGKILL) and started
 * again as the same peer. A killed process sends nothing over UDP: the WebRTC-direct connection to it
 * stayed open on the other side until libp2p's heartbeat gave up (20 s at the least), and since the
 * restarted peer's new connection was not its first, libp2p announced neither (in the network lab a
 * restart went unseen for up to 56 s, with streams still sent to the dead connection).
 */
describe('a peer killed and started again', () => {
  const owned: ProcessDaemon[] = []
  const dirs: string[] = []
  afterEach(async () => {
    await Promise.allSettled(owned.splice(0).map((d) => d.destroy()))
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
  })
  const listen = ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws', '/ip4/127.0.0.1/udp/0/webrtc-direct']
  const start = async (opts: Parameters<typeof startProcessDaemon>[0]) => {
    const d = await startProcessDaemon({ listen, ...opts })
    owned.push(d)
    return d
  }

  it('is found on its new connection: the stale WebRTC-direct connection to the dead process is closed, and says so', async () => {
    const a = await start({})
    const bDir = await tempDir()
    dirs.push(bDir)
    const b = await start({ dataDir: bDir })
    const ca = await a.client()
    const states = await PeerStates.bind(ca)

    const webrtc = b.addrs.find((x) => x.includes('/webrtc-direct/'))
    expect(webrtc, b.addrs.join(' ')).toBeDefined()
    expect(await ca.call('peers.connect', { peerId: b.peerId, addrs: [webrtc] })).toMatchObject({ success: true })

    const staleSeen = ca.waitFor<ActivityPush>('activity', (x) => x.peerId === b.peerId && x.message.startsWith('closed a stale'), 60_000)
    await b.stop('SIGKILL')
    const tcpOfA = a.addrs.find((x) => /\/tcp\/\d+\/p2p\//.test(x))
    const b2 = await start({ dataDir: bDir, bootstrap: [tcpOfA as string] })
    expect(b2.peerId).toBe(b.peerId)

    // the restarted peer dials A over TCP; A pings the WebRTC-direct connection it still holds, which
    // leads to the killed process, and closes it
    const stale = await staleSeen
    expect(stale.type).toBe('info')
    expect(stale.message).toMatch(
      /^closed a stale outbound connection to \/ip4\/127\.0\.0\.1\/udp\/\d+\/webrtc-direct\/.* \(open \d+ ms\): (no answer to a ping within \d+ ms|a ping) after the peer connected again/,
    )
    // and A goes on with the restarted peer on the new connection
    const { peers } = await ca.call<{ peers: PeerState[] }>('peers.list')
    expect(peers.find((p) => p.peerId === b.peerId)).toMatchObject({ status: 'connected' })
    // it never looked gone: connected from the first connect on (the restart took less than the heartbeat)
    const statuses = states.statuses(b.peerId)
    expect(statuses.slice(statuses.indexOf('connected')), statuses.join(' ')).toEqual(['connected'])
  })
})
