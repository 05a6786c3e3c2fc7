import type { Connection } from '@libp2p/interface'
import type { ConnectionType } from '../../machines/peer/peer.types.ts'

/** What a connection's remote multiaddr says about how it is carried. */
export function connectionTypeOf(addr: string): Exclude<ConnectionType, 'none'> {
  if (addr.includes('/p2p-circuit')) return 'relay'
  if (addr.includes('/webrtc')) return 'webrtc'
  return 'direct'
}

const rank: Record<ConnectionType, number> = { direct: 3, webrtc: 2, relay: 1, none: 0 }

/** The best of a peer's open connections: a direct one replaces a relayed one as soon as it exists. */
export function bestConnectionType(connections: Connection[]): ConnectionType {
  let best: ConnectionType = 'none'
  for (const c of connections) {
    if (c.status !== 'open') continue
    const t = connectionTypeOf(c.remoteAddr.toString())
    if (rank[t] > rank[best]) best = t
  }
  return best
}
