import { rm } from 'node:fs/promises'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import type { NodeHandle } from '../../src/p2p/node-factory.ts'
import { tempDir } from '../support/daemon.ts'
import { startRawNode } from '../support/raw-node.ts'

describe('a node with a data directory keeps what its peer store learnt across a restart', () => {
  const nodes: NodeHandle[] = []
  const dirs: string[] = []
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.stop()))
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
  })

  it('the peer it met, with its addresses and protocols, is in the peer store after a stop and start', async () => {
    const storageDir = await tempDir('sb-peer-records-')
    dirs.push(storageDir)
    const key = await generateKeyPair('Ed25519')
    const a = await startRawNode(key, { storageDir })
    const b = await startRawNode()
    nodes.push(b)
    const identified = new Promise<void>((resolve) => a.libp2p.addEventListener('peer:identify', () => resolve(), { once: true }))
    await a.libp2p.dial(b.libp2p.getMultiaddrs()[0]!)
    await identified
    const before = await a.libp2p.peerStore.get(b.libp2p.peerId)
    expect(before.addresses.length).toBeGreaterThan(0)
    expect(before.protocols).toContain('/ipfs/id/1.0.0')
    await a.stop()

    const again = await startRawNode(key, { storageDir })
    nodes.push(again)
    const after = await again.libp2p.peerStore.get(b.libp2p.peerId)
    expect(after.addresses.map((x) => x.multiaddr.toString())).toEqual(before.addresses.map((x) => x.multiaddr.toString()))
    expect(after.protocols).toEqual(before.protocols)
  })
})
