import { rm } from 'node:fs/promises'
import { afterEach, describe, expect, it } from 'vitest'
import type { PeerState } from '../../src/server/peer-state.ts'
import { startTestDaemon, type TestDaemon, tempDir } from '../support/daemon.ts'
import { dialsOf, PeerStates, teachAddress } from '../support/peers.ts'
import { freePorts } from '../support/process-daemon.ts'
import { watchActors } from '../support/watch-actors.ts'

interface ConnectResult {
  success: boolean
  connectionType: string
  error?: string
}

/**
 * A daemon that can be stopped and started again as the same peer: its own data directory (same
 * identity, known peers, bans, address book) and a fixed loopback port, so addresses others hold stay valid.
 */
async function restartable(overrides: Parameters<typeof startTestDaemon>[0] = {}) {
  const dataDir = await tempDir()
  const port = await freePorts(1)
  const config = { listen: [`/ip4/127.0.0.1/tcp/${port}`], ...overrides }
  const self = {
    dataDir,
    daemon: await startTestDaemon(config, dataDir),
    stopped: false,
    /** Close, keeping the data directory. */
    async stop() {
      await self.daemon.destroy()
      self.stopped = true
    },
    async start(): Promise<TestDaemon> {
      self.daemon = await startTestDaemon(config, dataDir)
      self.stopped = false
      return self.daemon
    },
    async restart(): Promise<TestDaemon> {
      await self.stop()
      return self.start()
    },
    async destroy() {
      if (!self.stopped) await self.daemon.destroy()
      await rm(dataDir, { recursive: true, force: true })
    },
  }
  return self
}

type Restartable = Awaited<ReturnType<typeof restartable>>

describe('remote peers across restarts', () => {
  const owned: Restartable[] = []
  afterEach(async () => {
    await Promise.allSettled(owned.splice(0).map((d) => d.destroy()))
  })
  const start = async (overrides?: Parameters<typeof startTestDaemon>[0]) => {
    const d = await restartable(overrides)
    owned.push(d)
    return d
  }

  it('a wanted peer comes back by itself after the other side restarts, and after our own restart', async () => {
    // a short cap keeps the wait for the restarted peer short; the growth itself is unit-tested
    const A = await start({ peerRetryMaxMs: 2_000 })
    const B = await start()
    const a = A.daemon
    const bId = B.daemon.peerId
    teachAddress(a, B.daemon)
    const ca = await a.client()
    const states = await PeerStates.bind(ca)
    expect(await ca.call<ConnectResult>('peers.connect', { peerId: bId })).toEqual({ success: true, connectionType: 'direct' })
    const wanted = await ca.call<PeerState>('peers.update', { peerId: bId, known: true, autoConnect: true, name: 'bee' })
    expect(wanted).toMatchObject({ known: true, autoConnect: true })
    // becoming known starts a sync; B does not know A, so B refuses it and A says so
    expect(['connected', 'syncing']).toContain(wanted.status)
    await states.until(bId, (s) => s.status === 'connected' && s.lastError !== null)

    const systemId = `peer:peer-a:${bId}`
    const watch = await watchActors(ca, systemId)
    const dials = dialsOf(a)
    dials.max = 0
    await B.stop()
    // while B is away the actor retries by itself: backoff, a dial that fails, backoff again
    const retried = await watch.until(systemId, (s) => s.value === 'backoff' && (s.context as PeerState).failures >= 2, 60_000)
    expect((retried.context as PeerState).lastError).toMatch(/ECONNREFUSED|refused/i)
    expect(dials.max).toBeGreaterThanOrEqual(1)
    await B.start()
    // then back, whoever dials first: our next retry, or B's libp2p redialling a DHT neighbour
    const back = await watch.until(systemId, (s) => (s.value as { connected?: string }).connected !== undefined, 60_000)
    expect(back.context).toMatchObject({ connectionType: 'direct', failures: 0 })
    // the dial's error is cleared; only the refused sync of this connection may stand
    expect(String((back.context as PeerState).lastError ?? 'sync: none')).toMatch(/^sync: /)
    const values = watch.history(systemId).map((s) => JSON.stringify(s.value))
    const left = values.indexOf('"backoff"')
    expect(left, values.join(' ')).toBeGreaterThan(0)
    expect(values.slice(0, left)).not.toContain('"connecting"')
    expect(values.slice(left)).toContain('"connecting"')
    // pushed to the client as they are: backoff while B is away, connecting for each retry, then connected
    // (B, known, is synced on arrival: the pushes may still be at `syncing` when the actor is back, so
    // wait for the refused sync to end)
    await states.until(bId, (s) => s.status === 'connected')
    const statuses = states.statuses(bId)
    const away = statuses.indexOf('backoff')
    // B may leave during a retried sync of its (refused) directory: connected or syncing before that
    expect(['connected', 'syncing'], statuses.join(' ')).toContain(statuses[away - 1])
    expect(statuses.slice(away, away + 3), statuses.join(' ')).toEqual(['backoff', 'connecting', 'backoff'])
    expect(statuses.at(-1)).toBe('connected')
    watch.stop()

    // our own restart: the address book comes back from disk with what it learnt about B
    interface Entry {
      multiaddr: string
      peerId?: string
      successes: number
      failures: number
    }
    const before = (await ca.call<{ entries: Entry[] }>('addressbook.list', {})).entries.filter((e) => e.peerId === bId)
    expect(before.some((e) => e.successes >= 1 && e.failures >= 1)).toBe(true)
    // the known peer's actor is spawned at start and dials by itself
    const a2 = await A.restart()
    const c2 = await a2.client()
    const after = (await c2.call<{ entries: Entry[] }>('addressbook.list', {})).entries.filter((e) => e.peerId === bId)
    for (const e of before) {
      const kept = after.find((x) => x.multiaddr === e.multiaddr)
      expect(kept, e.multiaddr).toBeDefined()
      expect(kept?.successes).toBeGreaterThanOrEqual(e.successes)
      expect(kept?.failures).toBeGreaterThanOrEqual(e.failures)
    }
    const states2 = await PeerStates.bind(c2)
    const again = await states2.until(bId, (s) => s.status === 'connected', 60_000)
    expect(again).toMatchObject({ known: true, autoConnect: true, name: 'bee', connectionType: 'direct', addedAt: wanted.addedAt })
    const { peers } = await c2.call<{ peers: PeerState[] }>('peers.list')
    expect(peers.find((p) => p.peerId === bId)).toMatchObject({ status: 'connected' })
  })

  it('a forgotten peer is not spawned again after a restart', async () => {
    const A = await start()
    const B = await start()
    teachAddress(A.daemon, B.daemon)
    const bId = B.daemon.peerId
    const ca = await A.daemon.client()
    await ca.call('peers.update', { peerId: bId, known: true, autoConnect: false })
    await ca.call('peers.forget', { peerId: bId })
    const a2 = await A.restart()
    const c2 = await a2.client()
    const { peers } = await c2.call<{ peers: PeerState[] }>('peers.list')
    expect(peers.find((p) => p.peerId === bId)).toBeUndefined()
    expect(a2.core.nodes.get('peer-a')?.knownPeers.has(bId)).toBe(false)
    // a known peer that was not forgotten is there after the restart (the control for the above)
    await c2.call('peers.update', { peerId: bId, known: true, autoConnect: false })
    const a3 = await A.restart()
    const c3 = await a3.client()
    const listed = (await c3.call<{ peers: PeerState[] }>('peers.list')).peers.find((p) => p.peerId === bId)
    expect(listed).toMatchObject({ known: true, autoConnect: false, status: 'disconnected' })
  })

  it('a ban cuts the peer off at once, refuses its reconnects, survives a restart, and lifts', async () => {
    const A = await start()
    const B = await start()
    const aId = A.daemon.peerId
    const bId = B.daemon.peerId
    teachAddress(B.daemon, A.daemon)
    let ca = await A.daemon.client()
    const cb = await B.daemon.client()
    const statesA = await PeerStates.bind(ca)
    const statesB = await PeerStates.bind(cb)
    expect(await cb.call<ConnectResult>('peers.connect', { peerId: aId })).toEqual({ success: true, connectionType: 'direct' })
    await statesA.until(bId, (s) => s.status === 'connected')

    const ban = await ca.call<{ peerId: string; until: number; reason: string }>('bans.add', { peerId: bId, reason: 'test ban' })
    expect(ban).toMatchObject({ peerId: bId, reason: 'test ban' })
    expect(ban.until).toBeGreaterThan(Date.now() + 30 * 60_000)
    await statesB.until(aId, (s) => s.status === 'disconnected')
    await statesA.until(bId, (s) => s.status === 'disconnected')
    expect(
      A.daemon.core.nodes
        .handle('peer-a')
        .libp2p.getConnections()
        .filter((c) => c.remotePeer.toString() === bId),
    ).toEqual([])

    // B cannot get back in: A's connection gater refuses it
    const refused = await cb.call<ConnectResult>('peers.connect', { peerId: aId })
    expect(refused.success).toBe(false)
    expect(refused.error).toBeTruthy()
    // and A does not dial it either
    const outgoing = await ca.call<ConnectResult>('peers.connect', { peerId: bId })
    expect(outgoing).toMatchObject({ success: false })
    expect(outgoing.error).toContain('banned')

    const bans = await ca.call<{ bans: { peerId: string }[] }>('bans.list')
    expect(bans.bans.map((x) => x.peerId)).toEqual([bId])
    const rep = await ca.call<{ peers: { peerId: string; bannedUntil?: number }[] }>('reputation.list')
    expect(rep.peers.find((p) => p.peerId === bId)?.bannedUntil).toBe(ban.until)

    // the ban is on disk: after A restarts it still holds, and B is still refused
    const a2 = await A.restart()
    ca = await a2.client()
    expect((await ca.call<{ bans: { peerId: string; until: number }[] }>('bans.list')).bans).toEqual([
      expect.objectContaining({ peerId: bId, until: ban.until }),
    ])
    const stillRefused = await cb.call<ConnectResult>('peers.connect', { peerId: aId })
    expect(stillRefused.success).toBe(false)

    await expect(ca.call('bans.remove', { peerId: bId })).resolves.toBeNull()
    expect((await ca.call<{ bans: unknown[] }>('bans.list')).bans).toEqual([])
    expect(await cb.call<ConnectResult>('peers.connect', { peerId: aId })).toEqual({ success: true, connectionType: 'direct' })
    const statesA2 = await PeerStates.bind(ca)
    await statesA2.until(bId, (s) => s.status === 'connected')
    // lifting the ban is on disk too
    const a3 = await A.restart()
    const c3 = await a3.client()
    expect((await c3.call<{ bans: unknown[] }>('bans.list')).bans).toEqual([])
    await expect(c3.call('bans.remove', { peerId: bId }).catch((e: { code: number }) => e.code)).resolves.toBe(404)
  })
})
