import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import { KnownPeers } from '../../src/p2p/known-peers.ts'
import { Reputation } from '../../src/p2p/reputation.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'
import { newPeerId } from '../support/process-daemon.ts'

describe('an acknowledged ban or known-peer change is already on disk', () => {
  let d: TestDaemon
  let client: SwitchboardClient
  beforeAll(async () => {
    d = await startTestDaemon()
    client = await d.client()
  })
  afterAll(async () => {
    await d?.destroy()
  })

  const bansFile = () => join(d.dataDir, 'bans.json')
  const knownFile = () => join(d.dataDir, 'known-peers.peer-a.json')

  it('bans.add and bans.remove: the file holds the change when the answer arrives, concurrent calls included', async () => {
    const ids = await Promise.all(Array.from({ length: 20 }, newPeerId))
    await Promise.all(
      ids.map(async (peerId) => {
        await client.call('bans.add', { peerId, ttlSeconds: 3600, reason: 'durable' })
        expect((await Reputation.load(bansFile())).isBanned(peerId)).toBe(true)
      }),
    )
    await client.call('bans.remove', { peerId: ids[0] })
    expect((await Reputation.load(bansFile())).isBanned(ids[0] as string)).toBe(false)
  })

  it('peers.update and peers.forget: the file holds the change when the answer arrives', async () => {
    const ids = await Promise.all(Array.from({ length: 20 }, newPeerId))
    await Promise.all(
      ids.map(async (peerId, i) => {
        await client.call('peers.update', { peerId, known: true, name: `friend ${i}`, autoConnect: false })
        expect((await KnownPeers.load(knownFile())).get(peerId)).toMatchObject({ peerId, name: `friend ${i}`, autoConnect: false })
      }),
    )
    await client.call('peers.update', { peerId: ids[1], name: 'renamed' })
    expect((await KnownPeers.load(knownFile())).get(ids[1] as string)?.name).toBe('renamed')
    await client.call('peers.forget', { peerId: ids[0] })
    expect((await KnownPeers.load(knownFile())).has(ids[0] as string)).toBe(false)
  })

  it('a write that fails answers 500 naming the file; the daemon goes on and the next change lands', async () => {
    // a directory where the file goes makes the rename fail (permissions do not stop root)
    await rm(bansFile(), { force: true })
    await mkdir(join(bansFile(), 'blocker'), { recursive: true })
    const banned = await newPeerId()
    await expect(client.call('bans.add', { peerId: banned, ttlSeconds: 60 })).rejects.toMatchObject({
      code: 500,
      message: expect.stringContaining(`cannot save the ban list (${bansFile()})`),
    })
    await rm(knownFile(), { force: true })
    await mkdir(join(knownFile(), 'blocker'), { recursive: true })
    const known = await newPeerId()
    await expect(client.call('peers.update', { peerId: known, known: true, autoConnect: false })).rejects.toMatchObject({
      code: 500,
      message: expect.stringContaining(`cannot save known peers (${knownFile()})`),
    })
    expect(await client.call('node.info')).toMatchObject({ peerid: d.peerId })

    await rm(bansFile(), { recursive: true })
    await rm(knownFile(), { recursive: true })
    const next = await newPeerId()
    await client.call('bans.add', { peerId: next, ttlSeconds: 60 })
    await client.call('peers.update', { peerId: next, known: true, autoConnect: false })
    // the failed changes were kept in memory: the next write holds them too
    expect((await Reputation.load(bansFile())).bans.list().map((b) => b.peerId)).toEqual(expect.arrayContaining([banned, next]))
    expect((await KnownPeers.load(knownFile())).list().map((p) => p.peerId)).toEqual(expect.arrayContaining([known, next]))
  })
})
