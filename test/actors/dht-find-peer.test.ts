import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { describe, expect, it } from 'vitest'
import { dhtOps } from '../../src/actors/dht/dht-ops.ts'
import type { SwitchboardLibp2p } from '../../src/p2p/node-factory.ts'

/**
 * kad-dht's findPeer answers from the local peer store first, even when the entry there has no
 * address (addpeers tags a peer before we ever met it, which makes such an entry): issue 14's lab saw
 * added peers never found ("no known address" on every retry). dhtOps.findPeer then asks the network.
 */
describe('dhtOps.findPeer', () => {
  const fake = (answers: Array<{ multiaddrs: string[] }>) => {
    const calls: Array<{ useCache?: boolean }> = []
    const libp2p = {
      peerRouting: {
        findPeer: async (id: unknown, options: { useCache?: boolean }) => {
          calls.push({ useCache: options.useCache })
          const a = answers[calls.length - 1] ?? { multiaddrs: [] }
          return { id, multiaddrs: a.multiaddrs.map((m) => multiaddr(m)) }
        },
      },
    } as unknown as SwitchboardLibp2p
    return { libp2p, calls }
  }

  it('asks the network when the local answer has no address', async () => {
    const peerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const { libp2p, calls } = fake([{ multiaddrs: [] }, { multiaddrs: ['/ip4/10.81.0.12/tcp/4001'] }])
    const found = await dhtOps.findPeer(libp2p, peerId, new AbortController().signal)
    expect(found).toEqual({ peerId, addrs: ['/ip4/10.81.0.12/tcp/4001'] })
    expect(calls).toEqual([{ useCache: undefined }, { useCache: false }])
  })

  it('takes a local answer that has addresses as it is', async () => {
    const peerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const { libp2p, calls } = fake([{ multiaddrs: ['/ip4/10.82.0.11/tcp/4001'] }])
    const found = await dhtOps.findPeer(libp2p, peerId, new AbortController().signal)
    expect(found.addrs).toEqual(['/ip4/10.82.0.11/tcp/4001'])
    expect(calls).toHaveLength(1)
  })
})
