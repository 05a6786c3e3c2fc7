import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Server } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import type { Config } from '../../src/config.ts'
import { blockKey } from '../../src/p2p/files/directory.ts'
import type { PeerState } from '../../src/server/peer-state.ts'
import { dagBlocks, eventually, listFiles, noise, storedKeys } from '../files/support.ts'
import { startTestDaemon, type TestDaemon, tempDir } from '../support/daemon.ts'
import { LOOPBACK_DEFAULT_LISTEN } from '../support/listen.ts'
import { PeerStates } from '../support/peers.ts'
import { closeServer, occupyPort } from '../support/process-daemon.ts'

const MiB = 1024 * 1024

interface Created {
  pairingId: string
  ticket: string
}

type Running = { daemon: TestDaemon }
const filesOf = (d: Running) => d.daemon.core.nodes.services('peer-a').files.service
const syncOf = (d: Running) => d.daemon.core.nodes.services('peer-a').sync
const storeOf = (d: Running) => filesOf(d).init.store
const put = (d: Running, path: string, content: Uint8Array) => filesOf(d).storeFile(path, content, false)
const replicaHolders = async (d: Running) =>
  Object.fromEntries([...(await storeOf(d).roots('replica:'))].map(([h, r]) => [h, r.toString()]))

/**
 * A device: a daemon as a user runs it, with its own data directory kept across stops and starts.
 * Its listen addresses are whatever the configuration says (port 0 unless a test fixes one), as with
 * `npm start`: a restarted daemon takes back the ports it had when they are free.
 */
async function device(name: string, overrides: Partial<Config> = {}) {
  const dataDir = await tempDir()
  const self = {
    name,
    dataDir,
    daemon: undefined as unknown as TestDaemon,
    client: undefined as unknown as SwitchboardClient,
    states: undefined as unknown as PeerStates,
    running: false,
    get peerId() {
      return self.daemon.peerId
    },
    async start() {
      self.daemon = await startTestDaemon(overrides, dataDir)
      self.running = true
      self.client = await self.daemon.client()
      self.states = await PeerStates.bind(self.client)
      return self
    },
    async stop() {
      self.running = false
      await self.daemon.destroy()
    },
    async destroy() {
      if (self.running) await self.stop()
      await rm(dataDir, { recursive: true, force: true })
    },
  }
  return self.start()
}
type Device = Awaited<ReturnType<typeof device>>

/** Pair through the WebSocket API as the dashboard does: A's "Add device", B's "Join device". */
async function pair(a: Device, b: Device): Promise<void> {
  const created = await a.client.call<Created>('pairing.create', { name: a.name })
  const paired = a.client.waitFor<{ state: string }>('pairing.state', (p) => p.state === 'paired')
  await b.client.call('pairing.join', { ticket: created.ticket, name: b.name })
  await paired
}

/** `x` shows `y` connected after a sync that set lastSyncAt (later than `after`). */
const synced = (x: Device, y: Device, after = 0) =>
  x.states.until(y.peerId, (s) => s.status === 'connected' && s.lastSyncAt !== null && s.lastSyncAt > after)

/** The statuses pushed for `peerId` contain `order` in that order (other statuses may come between). */
function inOrder(statuses: string[], order: string[]): boolean {
  let i = 0
  for (const s of statuses) if (s === order[i]) i++
  return i === order.length
}

describe('paired devices across restarts', () => {
  const owned: Device[] = []
  afterEach(async () => {
    await Promise.allSettled(owned.splice(0).map((d) => d.destroy()))
  })
  const start = async (name: string, overrides?: Partial<Config>) => {
    const d = await device(name, overrides)
    owned.push(d)
    return d
  }

  it('pair, sync, then B restarts and both restart: they reconnect and sync by themselves', async () => {
    const a = await start('laptop A')
    const b = await start('laptop B')
    await put(b, 'docs/before.txt', new TextEncoder().encode('stored on B before pairing'))
    await pair(a, b)
    const [first, fromB] = await Promise.all([synced(a, b), synced(b, a)])
    expect(first).toMatchObject({ known: true, autoConnect: true, name: 'laptop B' })
    expect(fromB).toMatchObject({ known: true, autoConnect: true, name: 'laptop A' })
    expect(inOrder(a.states.statuses(b.peerId), ['syncing', 'connected']), a.states.statuses(b.peerId).join(' ')).toBe(true)
    expect(inOrder(b.states.statuses(a.peerId), ['syncing', 'connected']), b.states.statuses(a.peerId).join(' ')).toBe(true)
    const bRoot = filesOf(b).root.toString()
    expect(syncOf(a).replicaRoot(b.peerId)).toBe(bRoot)
    expect(await readFile(join(a.dataDir, 'nodes', 'peer-a', 'replicas.json'), 'utf8')).toContain(b.peerId)
    const own = await listFiles(b.client, b.peerId)

    // B goes away: A's replica answers for it
    a.states.reset(b.peerId)
    await b.stop()
    await a.states.until(b.peerId, (s) => s.status !== 'connected' && s.status !== 'syncing')
    expect(await listFiles(a.client, b.peerId)).toEqual({ peerid: b.peerId, cid: bRoot, entries: own.entries, source: 'replica' })

    // B comes back (with its ports of before when they are free, src/p2p/listen-ports.ts): A's peer
    // actor goes from backoff to connected and syncs, with no client action
    await b.start()
    const [again] = await Promise.all([synced(a, b, first.lastSyncAt ?? 0), synced(b, a, fromB.lastSyncAt ?? 0)])
    const afterB = a.states.statuses(b.peerId)
    expect(inOrder(afterB, ['backoff', 'connected']), afterB.join(' ')).toBe(true)
    expect(afterB.at(-1)).toBe('connected')

    // both stop, both start: they find each other again and sync, no client action
    await Promise.all([a.stop(), b.stop()])
    await Promise.all([a.start(), b.start()])
    const [third, thirdB] = await Promise.all([synced(a, b, again.lastSyncAt ?? 0), synced(b, a)])
    expect(third.lastSyncAt).toBeGreaterThan(again.lastSyncAt ?? 0)
    expect(thirdB).toMatchObject({ known: true, name: 'laptop A' })
    // (no push order here: A's client binds after A's restart, and under load the sync may be over
    // before it does; the newer lastSyncAt above is the proof that it synced)
  })

  it('a device that comes back on other ports (its own taken) is found again: it dials out, and identify tells the other where it is now', async () => {
    const a = await start('laptop A')
    const b = await start('laptop B')
    await pair(a, b)
    const [first] = await Promise.all([synced(a, b), synced(b, a)])
    const tcpPort = (d: Device) => Number(/\/tcp\/(\d+)/.exec(d.daemon.core.nodes.info('peer-a').addrs[0] ?? '')?.[1])
    // another program holds the port: it takes each connection and drops it
    const taken: Server[] = []
    const occupy = async (port: number) => {
      const server = await occupyPort(port)
      server.on('connection', (socket) => socket.destroy())
      taken.push(server)
    }
    try {
      // B restarts and finds its port taken: A holds only B's old address, but B knows A and dials it
      const bPort = tcpPort(b)
      await b.stop()
      await occupy(bPort)
      await b.start()
      expect(tcpPort(b)).not.toBe(bPort)
      const [again] = await Promise.all([synced(a, b, first.lastSyncAt ?? 0), synced(b, a)])
      // A restarts on another port too: B cannot reach it, so A must dial B where identify said B is now
      const aPort = tcpPort(a)
      await a.stop()
      await occupy(aPort)
      await a.start()
      expect(tcpPort(a)).not.toBe(aPort)
      const third = await synced(a, b, again.lastSyncAt ?? 0)
      expect(third).toMatchObject({ known: true, name: 'laptop B' })
      await synced(b, a)
    } finally {
      await Promise.all(taken.map(closeServer))
    }
  })

  it('forget during a sync of a 50 MiB directory aborts it and keeps nothing of B', async () => {
    const a = await start('laptop A')
    const b = await start('laptop B')
    for (let i = 0; i < 5; i++) await put(b, `large/part-${i}.bin`, noise(10 * MiB, 300 + i))
    const bKeys = new Set((await dagBlocks(b.daemon, filesOf(b).root.toString())).map(blockKey))
    const heldBefore = await storedKeys(a.daemon)
    // A forgets B as soon as its peer actor has fetched a few blocks of B's directory and knows of more
    // (blocksTotal counts the blocks found lacking so far: a push between two levels of the walk can show them equal)
    const midSync = a.states.until(
      b.peerId,
      (s) => s.status === 'syncing' && (s.sync?.blocksFetched ?? 0) >= 3 && (s.sync?.blocksTotal ?? 0) > (s.sync?.blocksFetched ?? 0),
      120_000,
    )
    await pair(a, b)
    const during = await midSync
    expect(during.sync?.blocksTotal).toBeGreaterThan(during.sync?.blocksFetched ?? 0)
    await a.client.call('peers.forget', { peerId: b.peerId })
    // it never finished: no push for B carried a lastSyncAt, and B's directory is not A's replica
    expect(a.states.all(b.peerId).map((s) => s.lastSyncAt)).toEqual(a.states.all(b.peerId).map(() => null))

    const { peers } = await a.client.call<{ peers: PeerState[] }>('peers.list')
    expect(peers.find((p) => p.peerId === b.peerId)).toBeUndefined()
    expect(a.daemon.core.nodes.get('peer-a')?.knownPeers.has(b.peerId)).toBe(false)
    expect(syncOf(a).replicaRoot(b.peerId)).toBeUndefined()
    expect(await replicaHolders(a)).toEqual({})
    // nor in replicas.json, if the sync got far enough for there to be one
    const saved = await readFile(join(a.dataDir, 'nodes', 'peer-a', 'replicas.json'), 'utf8').catch(() => '')
    expect(saved).not.toContain(b.peerId)
    const pins = []
    for await (const pin of a.daemon.core.nodes.handle('peer-a').helia.pins.ls()) pins.push(pin)
    expect(pins).toEqual([])
    // the collector frees every block it fetched (blocks in flight at the abort may land late)
    const left = await eventually(
      async () => {
        await a.client.call('files.gc', {})
        const held = await storedKeys(a.daemon)
        return [...bKeys].filter((k) => held.has(k) && !heldBefore.has(k)).length
      },
      (n) => n === 0,
      60_000,
    )
    expect(left).toBe(0)
    // and it stays forgotten across a restart of A
    await a.stop()
    await a.start()
    const listed = (await a.client.call<{ peers: PeerState[] }>('peers.list')).peers
    expect(listed.find((p) => p.peerId === b.peerId && p.known)).toBeUndefined()
    expect(await replicaHolders(a)).toEqual({})
  })

  it('pairs and syncs over the default transports (TCP, WebSockets, WebRTC-direct) on loopback', async () => {
    const a = await start('desk A', { listen: LOOPBACK_DEFAULT_LISTEN })
    const b = await start('desk B', { listen: LOOPBACK_DEFAULT_LISTEN })
    await put(b, 'notes/hello.txt', new TextEncoder().encode('over the default transports'))
    await pair(a, b)
    await Promise.all([synced(a, b), synced(b, a)])
    expect(syncOf(a).replicaRoot(b.peerId)).toBe(filesOf(b).root.toString())
    const entries = (await listFiles(a.client, b.peerId)).entries
    expect(Object.keys(entries)).toContain('notes/hello.txt')
  })
})
