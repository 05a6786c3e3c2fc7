import type { Multiaddr } from '@multiformats/multiaddr'
import { parseAddress } from './address-group.ts'

/** One of our addresses as libp2p's address manager holds it (its NodeAddress, the fields we read). */
export interface NodeAddress {
  multiaddr: Multiaddr
  verified: boolean
  type: string
}

/**
 * Whether peers on the internet can dial us, from what libp2p knows of our addresses:
 * `public` once AutoNAT (other peers dialling us back) verified a public address; `private` when we
 * have no public address at all (a LAN, or behind NAT without a mapping: reachable from outside
 * only through a relay); `unknown` while public addresses wait for verification.
 */
export type Reachability = 'public' | 'private' | 'unknown'

export interface ReachabilityInfo {
  status: Reachability
  /** Public addresses AutoNAT verified. */
  verified: string[]
  /** Our addresses through relays (`/p2p-circuit`): how peers reach us when we are not public. */
  relayed: string[]
}

/** `self`: our peer id, appended to each address as libp2p.getMultiaddrs() does. */
export function reachabilityOf(addresses: NodeAddress[], self: string): ReachabilityInfo {
  const verified: string[] = []
  const relayed: string[] = []
  let anyPublic = false
  for (const a of addresses) {
    const bare = a.multiaddr.toString()
    const text = bare.endsWith(`/p2p/${self}`) ? bare : `${bare}/p2p/${self}`
    let scope: string
    let viaRelay: boolean
    try {
      const parsed = parseAddress(text)
      scope = parsed.scope
      viaRelay = parsed.relayed
    } catch {
      continue
    }
    if (viaRelay) {
      relayed.push(text)
      continue
    }
    if (scope !== 'public') continue
    anyPublic = true
    if (a.verified) verified.push(text)
  }
  const status: Reachability = verified.length > 0 ? 'public' : anyPublic ? 'unknown' : 'private'
  return { status, verified, relayed }
}
