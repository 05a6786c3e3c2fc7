import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { joinerHandshake, PAIR_PROTOCOL } from '../../src/actors/pairing/pair-protocol.ts'
import { decodeTicket, encodeTicket, newSecret } from '../../src/p2p/pairing/ticket.ts'
import type { PeerState } from '../../src/server/peer-state.ts'
import type { NodeHandle } from '../../src/p2p/node-factory.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'
import { startRawNode } from '../support/raw-node.ts'
import { codeOf, PeerStates } from '../support/peers.ts'

interface Created {
  pairingId: string
  ticket: string
  expiresAt: number
  qrSvg: string
}

/** Two devices pair through their WebSocket APIs, as the dashboard's Add device / Join device do. */
describe('pairing by ticket', () => {
  let a: TestDaemon
  let b: TestDaemon
  let c: TestDaemon
  let ca: SwitchboardClient
  let cb: SwitchboardClient
  let cc: SwitchboardClient

  beforeAll(async () => {
    ;[a, b, c] = await Promise.all([startTestDaemon(), startTestDaemon(), startTestDaemon()])
    ;[ca, cb, cc] = await Promise.all([a.client(), b.client(), c.client()])
  })
  afterAll(async () => {
    await Promise.all([a, b, c].map((x) => x?.destroy()))
  })

  it('pairs two daemons: both know each other by name, connected, and pushed the steps', async () => {
    const statesA = await PeerStates.bind(ca)
    const steps: string[] = []
    ca.on<{ state: string }>('pairing.state', (p) => steps.push(p.state))
    const created = await ca.call<Created>('pairing.create', { name: 'laptop A' })
    expect(created.ticket).toMatch(/^sbp1[a-z2-7]+$/)
    expect(created.qrSvg).toContain('<svg')
    expect(created.expiresAt).toBeGreaterThan(Date.now())

    const paired = ca.waitFor<{ state: string; peer?: PeerState }>('pairing.state', (p) => p.state === 'paired')
    const joined = await cb.call<PeerState>('pairing.join', { ticket: created.ticket, name: 'laptop B' })
    expect(joined).toMatchObject({ peerId: a.peerId, name: 'laptop A', known: true, autoConnect: true })
    expect(['connected', 'syncing']).toContain(joined.status)

    const seenByA = await statesA.until(b.peerId, (s) => s.known && s.name === 'laptop B')
    expect(seenByA).toMatchObject({ autoConnect: true })
    expect((await paired).peer).toMatchObject({ peerId: b.peerId, known: true })
    expect(steps).toEqual(expect.arrayContaining(['waiting', 'verifying', 'confirming', 'saving', 'paired']))
    // on disk on both sides
    expect(a.core.nodes.get('peer-a')?.knownPeers.get(b.peerId)).toMatchObject({ name: 'laptop B', autoConnect: true })
    expect(b.core.nodes.get('peer-a')?.knownPeers.get(a.peerId)).toMatchObject({ name: 'laptop A', ticket: created.ticket })
  })

  it('an invalid ticket is a 400 and an expired one a 410, before any dial', async () => {
    const created = await ca.call<Created>('pairing.create', {})
    const typo = `${created.ticket.slice(0, 30)}${created.ticket[30] === 'a' ? 'b' : 'a'}${created.ticket.slice(31)}`
    await expect(cc.call('pairing.join', { ticket: typo })).rejects.toMatchObject({
      code: 400,
      message: expect.stringMatching(/checksum|truncated/),
    })
    await expect(cc.call('pairing.join', { ticket: 'hello' })).rejects.toMatchObject({ code: 400 })
    // our own ticket names our own peer id
    await expect(ca.call('pairing.join', { ticket: created.ticket })).rejects.toMatchObject({
      code: 400,
      message: expect.stringMatching(/own peer id|this local peer/),
    })
    const real = decodeTicket(created.ticket)
    const expired = encodeTicket({ ...real, expiresAt: Date.now() - 1_000 })
    await expect(cc.call('pairing.join', { ticket: expired })).rejects.toMatchObject({
      code: 410,
      message: expect.stringMatching(/expired/),
    })
    // none of it reached the network
    expect(c.core.nodes.handle('peer-a').libp2p.getConnections()).toHaveLength(0)
  })

  it('a used ticket pairs nobody else: 410 for a third daemon', async () => {
    const created = await ca.call<Created>('pairing.create', {})
    await cb.call('pairing.join', { ticket: created.ticket })
    expect(await codeOf(cc.call('pairing.join', { ticket: created.ticket }))).toBe(410)
    expect(a.core.nodes.get('peer-a')?.knownPeers.has(c.peerId)).toBe(false)
    expect(c.core.nodes.get('peer-a')?.knownPeers.has(a.peerId)).toBe(false)
  })

  it('a wrong proof is refused and costs reputation; too many cancel the ticket', async () => {
    const created = await ca.call<Created>('pairing.create', {})
    const cancelled = ca.waitFor<{ pairingId: string; state: string }>(
      'pairing.state',
      (p) => p.pairingId === created.pairingId && p.state === 'cancelled',
    )
    const real = decodeTicket(created.ticket)
    // someone who saw the pairing id (not the secret) tries three times, from three identities:
    // the same identity twice would be banned first (35 points per wrong proof, ban at -50)
    const wrongProof = async (libp2p: NodeHandle['libp2p']) => {
      await libp2p.dial(multiaddr(`${real.addrs[0]}/p2p/${a.peerId}`))
      const stream = await libp2p.dialProtocol(peerIdFromString(a.peerId), PAIR_PROTOCOL)
      return joinerHandshake(stream, {
        pairingId: created.pairingId,
        secret: newSecret(),
        name: 'mallory',
        self: libp2p.peerId.toString(),
        initiator: a.peerId,
        signal: AbortSignal.timeout(10_000),
      })
    }
    const raw = await Promise.all([startRawNode(), startRawNode()])
    try {
      await expect(wrongProof(c.core.nodes.handle('peer-a').libp2p)).rejects.toMatchObject({ failure: 'refused' })
      expect(a.core.stores.reputation.score(c.peerId)).toBeLessThan(-30)
      for (const node of raw) await expect(wrongProof(node.libp2p)).rejects.toMatchObject({ failure: 'refused' })
    } finally {
      await Promise.all(raw.map((r) => r.stop()))
    }
    await cancelled
    // the real secret no longer helps: the ticket is spent
    expect(await codeOf(cb.call('pairing.join', { ticket: created.ticket }))).toBe(410)
    expect(a.core.nodes.get('peer-a')?.knownPeers.has(c.peerId)).toBe(false)
  })

  it('pairing.cancel ends a waiting ticket; an unknown pairing is a 404', async () => {
    const created = await ca.call<Created>('pairing.create', {})
    expect(await ca.call('pairing.cancel', { pairingId: created.pairingId })).toBeNull()
    expect(await codeOf(ca.call('pairing.cancel', { pairingId: created.pairingId }))).toBe(404)
    expect(await codeOf(cb.call('pairing.join', { ticket: created.ticket }))).toBe(410)
  })
})

describe('unknownPeers: reject and pairing', () => {
  it('a stranger is refused; the device that paired gets in, and its ticket let it in to pair', async () => {
    const [d, joiner, stranger] = await Promise.all([startTestDaemon({ unknownPeers: 'reject' }), startTestDaemon(), startTestDaemon()])
    try {
      const [cd, cj, cs] = await Promise.all([d.client(), joiner.client(), stranger.client()])
      const created = await cd.call<Created>('pairing.create', { name: 'private box' })
      await expect(cj.call('pairing.join', { ticket: created.ticket })).resolves.toMatchObject({ peerId: d.peerId, known: true })
      const addrs = decodeTicket(created.ticket).addrs.map((x) => `${x}/p2p/${d.peerId}`)
      // no ticket is out any more: a stranger is refused even with the addresses
      const refused = await cs.call<{ success: boolean }>('peers.connect', { peerId: d.peerId, addrs })
      expect(refused.success).toBe(false)
      // the paired device gets in again after a hang-up
      await cj.call('peers.disconnect', { peerId: d.peerId })
      expect(await cj.call('peers.connect', { peerId: d.peerId })).toMatchObject({ success: true })
    } finally {
      await Promise.all([d, joiner, stranger].map((x) => x.destroy()))
    }
  })
})
