import { peerIdFromString } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type SwitchboardClient, SwitchboardError } from '../../src/client/switchboard-client.ts'
import type { Config } from '../../src/config.ts'
import { startTestDaemon, type TestDaemon, tcpAddrOf } from '../support/daemon.ts'
import { listFiles, store } from './support.ts'

/** `d`'s TCP address with its /p2p/ part. */

/** Connect `from` to `to` by address, as a user would. */
async function connect(from: SwitchboardClient, to: TestDaemon): Promise<void> {
  expect(await from.call('peers.connect', { peerId: to.peerId, addrs: [tcpAddrOf(to)] })).toMatchObject({ success: true })
}

/**
 * A serves its files to known and added peers only (`fileAccess: known`); S is a stranger to it; P
 * is added on A. P keeps the default (`all`), so the stranger S may read P's files.
 */
describe('fileAccess', () => {
  let a: TestDaemon
  let s: TestDaemon
  let p: TestDaemon
  let ca: SwitchboardClient
  let cs: SwitchboardClient
  let cp: SwitchboardClient

  beforeAll(async () => {
    ;[a, s, p] = await Promise.all([
      startTestDaemon({ fileAccess: 'known' } satisfies Partial<Config>),
      startTestDaemon(),
      startTestDaemon(),
    ])
    ;[ca, cs, cp] = await Promise.all([a.client(), s.client(), p.client()])
    await store(ca, 'private/notes.txt', 'for known peers only')
    await store(cp, 'public/readme.txt', 'anyone may read this')
  })
  afterAll(async () => {
    await Promise.all([a, s, p].map((d) => d?.destroy()))
  })

  it("known: a stranger's listfiles over /p2p-webapp/1.0.0 is refused, with no reputation cost and the connection kept", async () => {
    await connect(cs, a)
    const err = await cs.call('listfiles', { peerid: a.peerId }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(SwitchboardError)
    expect((err as SwitchboardError).message).toContain(`listfiles ${a.peerId}`)
    // asking is no offence: no violation, no ban, still connected
    expect(a.core.stores.reputation.score(s.peerId)).toBeGreaterThanOrEqual(0)
    expect(a.core.stores.reputation.isBanned(s.peerId)).toBe(false)
    expect(a.core.nodes.handle('peer-a').libp2p.getConnections(peerIdFromString(s.peerId)).length).toBeGreaterThan(0)
  })

  it("known: an added peer's listfiles works", async () => {
    expect(await ca.call('addpeers', { peerIds: [tcpAddrOf(p)] })).toBeNull()
    const own = await listFiles(ca, a.peerId)
    expect(Object.keys(own.entries)).toContain('private/notes.txt')
    expect(await listFiles(cp, a.peerId)).toEqual(own)
  })

  it('known: a peer made known (peers.update known: true) may read too', async () => {
    await ca.call('peers.update', { peerId: s.peerId, known: true })
    expect((await listFiles(cs, a.peerId)).entries['private/notes.txt']).toMatchObject({ type: 'file' })
  })

  it("all (the default): a stranger lists another daemon's files", async () => {
    await connect(cs, p)
    expect(await listFiles(cs, p.peerId)).toEqual(await listFiles(cp, p.peerId))
  })
})
