import type { Multiaddr } from '@multiformats/multiaddr'
import { type NodeAddress, type ReachabilityInfo, reachabilityOf } from './reachability.ts'

export type { NodeAddress }

/** Our own addresses with what libp2p knows of them (AutoNAT marks public ones verified). */
export interface OwnAddresses {
  withMetadata(): NodeAddress[]
  /** What libp2p.getMultiaddrs() answers, as strings: the verified addresses with our /p2p/ suffix. */
  multiaddrs(): string[]
  /** reachabilityOf(withMetadata()), kept as long as the addresses it was computed from. */
  reachability(): ReachabilityInfo
}

/** The parts of libp2p's components the cache reads. */
export interface OwnAddressComponents {
  addressManager: { getAddressesWithMetadata(): NodeAddress[]; getAddresses(): Multiaddr[] }
  /** Its listener addresses are cached too (cacheTransportAddrs). */
  transportManager?: { getAddrs(): Multiaddr[] }
  events: { addEventListener(type: string, fn: () => void): void }
  peerId: { toString(): string }
}

/**
 * Longest a computed list is served. Expanding a wildcard listener (0.0.0.0) reads every network
 * interface (os.networkInterfaces, Server.address, netmask checks): on the defaults that cost most of
 * a `node.info` call. Listeners opening or closing and libp2p's own address updates invalidate at once;
 * this bounds how long an interface change nobody announces (an address added to the host) goes unseen.
 */
export const OWN_ADDRESSES_MAX_AGE_MS = 1_000

/**
 * Our addresses, computed when asked and kept until libp2p reports a change (a transport listening or
 * closing, `self:peer:update`) or they are older than OWN_ADDRESSES_MAX_AGE_MS. Callers get their own
 * copies of the lists.
 */
export function ownAddresses(components: OwnAddressComponents, maxAgeMs = OWN_ADDRESSES_MAX_AGE_MS): OwnAddresses {
  if (components.transportManager !== undefined) cacheTransportAddrs(components.transportManager, components.events, maxAgeMs)
  let metadata: { at: number; list: NodeAddress[] } | undefined
  let strings: { at: number; list: string[] } | undefined
  let reachability: { of: NodeAddress[]; info: ReachabilityInfo } | undefined
  const invalidate = () => {
    metadata = undefined
    strings = undefined
  }
  const currentMetadata = (): NodeAddress[] => {
    const now = performance.now()
    if (metadata === undefined || now - metadata.at >= maxAgeMs)
      metadata = { at: now, list: components.addressManager.getAddressesWithMetadata() }
    return metadata.list
  }
  for (const event of ['transport:listening', 'transport:close', 'self:peer:update']) components.events.addEventListener(event, invalidate)
  const fresh = (entry: { at: number } | undefined, now: number) => entry !== undefined && now - entry.at < maxAgeMs
  return {
    withMetadata() {
      return [...currentMetadata()]
    },
    reachability() {
      const of = currentMetadata()
      if (reachability?.of !== of) reachability = { of, info: reachabilityOf(of, components.peerId.toString()) }
      const { status, verified, relayed } = reachability.info
      return { status, verified: [...verified], relayed: [...relayed] }
    },
    multiaddrs() {
      const now = performance.now()
      if (!fresh(strings, now)) strings = { at: now, list: components.addressManager.getAddresses().map(String) }
      return [...(strings as { list: string[] }).list]
    },
  }
}

/**
 * libp2p's transport manager expands each wildcard listener into the host's interface addresses
 * (os.networkInterfaces) on every getAddrs(), and libp2p asks for them on every connection (identify
 * sends them; 2% of a reconnecting daemon's CPU, bench/reconnect.ts). They change only when a
 * listener opens or closes, which libp2p announces, or an interface changes, which it does not: the
 * list is kept until the first, and at most `maxAgeMs`.
 */
export function cacheTransportAddrs(
  transportManager: { getAddrs(): Multiaddr[] },
  events: OwnAddressComponents['events'],
  maxAgeMs = OWN_ADDRESSES_MAX_AGE_MS,
): void {
  const expand = transportManager.getAddrs.bind(transportManager)
  let cached: { at: number; list: Multiaddr[] } | undefined
  for (const event of ['transport:listening', 'transport:close']) events.addEventListener(event, () => (cached = undefined))
  transportManager.getAddrs = () => {
    const now = performance.now()
    if (cached === undefined || now - cached.at >= maxAgeMs) cached = { at: now, list: expand() }
    return [...cached.list]
  }
}
