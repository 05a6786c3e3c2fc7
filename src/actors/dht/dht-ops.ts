import { peerIdFromString } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import type { DhtOp } from '../../machines/dht/dht.types.ts'
import type { SwitchboardLibp2p } from '../../p2p/node-factory.ts'

export interface FoundPeer {
  peerId: string
  addrs: string[]
}

/** What each kind of operation answers with; every result is plain data. */
export interface DhtOpResults {
  provide: null
  findProviders: FoundPeer[]
  findPeer: FoundPeer
}

/** findProviders without a limit stops after this many. */
export const DEFAULT_PROVIDER_LIMIT = 20

/** The work behind each DHT operation kind; every call takes the runner's signal. */
export const dhtOps = {
  async provide(libp2p: SwitchboardLibp2p, cid: CID, signal: AbortSignal): Promise<null> {
    await libp2p.contentRouting.provide(cid, { signal })
    return null
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

  async findPeer(libp2p: SwitchboardLibp2p, peerId: string, signal: AbortSignal): Promise<FoundPeer> {
    const id = peerIdFromString(peerId)
    let info = await libp2p.peerRouting.findPeer(id, { signal })
    // kad-dht answers from the local peer store first, even with an entry that has no address: one
    // made by tagging a peer (addpeers protects it before we ever met it) ended every lookup there,
    // so an added peer we had no address for was never found (issue 14's lab: "no known address"
    // on every retry). Then ask the network.
    if (info.multiaddrs.length === 0) info = await libp2p.peerRouting.findPeer(id, { signal, useCache: false })
    return { peerId: info.id.toString(), addrs: info.multiaddrs.map(String) }
  },
}

/** Turn an operation's plain description into libp2p work: what the DHT actor's runner does. */
export function runDhtOp(libp2p: SwitchboardLibp2p, op: DhtOp, signal: AbortSignal): Promise<DhtOpResults[DhtOp['kind']]> {
  switch (op.kind) {
    case 'provide':
      return dhtOps.provide(libp2p, CID.parse(op.key), signal)
    case 'findProviders':
      return dhtOps.findProviders(libp2p, CID.parse(op.key), op.limit ?? DEFAULT_PROVIDER_LIMIT, signal)
    case 'findPeer':
      return dhtOps.findPeer(libp2p, op.key, signal)
  }
}
