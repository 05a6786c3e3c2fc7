import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import type { SwitchboardLibp2p } from '../../p2p/node-factory.ts'

export interface FoundPeer {
  peerId: string
  addrs: string[]
}

/** The work behind each DHT operation kind; every call takes the runner's signal. */
export const dhtOps = {
  async provide(libp2p: SwitchboardLibp2p, cid: CID, signal: AbortSignal): Promise<void> {
    await libp2p.contentRouting.provide(cid, { signal })
  },

  async findProviders(libp2p: SwitchboardLibp2p, cid: CID, limit: number, signal: AbortSignal): Promise<FoundPeer[]> {
    const found = new Map<string, FoundPeer>()
    for await (const p of libp2p.contentRouting.findProviders(cid, { signal })) {
      if (p.id.equals(libp2p.peerId)) continue
      found.set(p.id.toString(), { peerId: p.id.toString(), addrs: p.multiaddrs.map(String) })
      if (found.size >= limit) break
    }
    return [...found.values()]
  },

  async findPeer(libp2p: SwitchboardLibp2p, peerId: PeerId, signal: AbortSignal): Promise<FoundPeer> {
    const info = await libp2p.peerRouting.findPeer(peerId, { signal })
    return { peerId: info.id.toString(), addrs: info.multiaddrs.map(String) }
  },
}
