/**
 * Addresses a user gives for a peer (`peers.connect {addrs}`, `addpeers` with full multiaddrs):
 * checked before any dial, so a typo is a 400 naming the entry and the problem, not a dial error.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { InvalidAddressError, parseAddress } from './address-group.ts'
import { InvalidInputError } from './validate.ts'

/** Most addresses one `peers.connect` may carry. */
export const MAX_DIAL_ADDRS = 32

/** The transports this daemon dials (node-factory.ts): TCP, WebSockets over TCP, WebRTC-direct over UDP. */
const DIALABLE = /^(tcp(\/(ws|wss|tls\/ws|tls\/sni\/ws))?|udp\/webrtc-direct)$/

const quoted = (value: string) => JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}...` : value)

/** A peer id in its canonical text form, or undefined when it does not parse. */
function canonicalPeerId(text: string): string | undefined {
  try {
    return peerIdFromString(text).toString()
  } catch {
    return undefined
  }
}

export interface PeerAddress {
  /** The address without its `/p2p/<id>` (what the peer store and the address book take with the id beside it). */
  addr: Multiaddr
  /** The peer the address names, canonical; undefined when it names none. */
  peerId: string | undefined
}

/**
 * One dialable address: a valid multiaddr starting with a host (not 0.0.0.0, multicast or a
 * documentation net), over a transport this daemon dials, directly or through a relay
 * (`<relay address>/p2p/<relay>/p2p-circuit[/p2p/<peer>]`, the relay reached the same way). Throws
 * InvalidInputError naming `field`.
 */
export function parseDialAddr(value: string, field: string): PeerAddress {
  let parsed: ReturnType<typeof parseAddress>
  try {
    parsed = parseAddress(value)
  } catch (err) {
    const reason = err instanceof InvalidAddressError ? err.message.replace(/^invalid address "[\s\S]*?": /, '') : String(err)
    throw new InvalidInputError(field, `${quoted(value)} is not a dialable multiaddr: ${reason}`)
  }
  if (parsed.scope === 'unspecified' || parsed.scope === 'reserved')
    throw new InvalidInputError(
      field,
      `${quoted(value)}: ${parsed.host} is ${parsed.scope === 'unspecified' ? 'an unspecified' : 'a reserved'} address, never dialable`,
    )
  const ma = multiaddr(parsed.multiaddr)
  const components = ma.getComponents()
  const circuit = components.findIndex((c) => c.name === 'p2p-circuit')
  // a relayed address: the relay's own address comes first, with the relay's id
  const hop = circuit < 0 ? components : components.slice(0, circuit)
  if (circuit >= 0 && hop.at(-1)?.name !== 'p2p')
    throw new InvalidInputError(field, `${quoted(value)}: a relayed address names the relay (/p2p/<relay id>) before /p2p-circuit`)
  if (components[0]?.name !== 'dnsaddr') {
    const transport = hop
      .slice(components[0]?.name === 'ip6zone' ? 2 : 1)
      .map((c) => c.name)
      .filter((name) => name !== 'p2p' && name !== 'certhash')
      .join('/')
    if (!DIALABLE.test(transport))
      throw new InvalidInputError(
        field,
        `${quoted(value)}: /${transport} is not a transport this daemon dials (tcp, tcp/ws, tcp/wss, udp/webrtc-direct)`,
      )
  }
  let peerId: string | undefined
  if (parsed.peerId !== undefined) {
    peerId = canonicalPeerId(parsed.peerId)
    if (peerId === undefined) throw new InvalidInputError(field, `${quoted(value)}: /p2p/${parsed.peerId} is not a valid peer id`)
  }
  // the bare address: the peer's /p2p/<id> goes beside it, as the peer store and the address book
  // want it (a relayed address keeps its relay's id: that is part of the route)
  const addr = circuit < 0 ? multiaddr(components.filter((c) => c.name !== 'p2p')) : multiaddr(components.slice(0, circuit + 1))
  return { addr, peerId }
}

/**
 * `peers.connect`'s `addrs`: at most MAX_DIAL_ADDRS, each dialable, and a `/p2p/<id>` in any of
 * them must be `peerId`. Returns the distinct bare addresses, in order.
 */
export function parseDialAddrs(values: readonly string[], peerId: string, field = 'addrs'): Multiaddr[] {
  if (values.length > MAX_DIAL_ADDRS) throw new InvalidInputError(field, `at most ${MAX_DIAL_ADDRS} addresses, got ${values.length}`)
  const out = new Map<string, Multiaddr>()
  for (const [i, value] of values.entries()) {
    const { addr, peerId: named } = parseDialAddr(value, `${field}.${i}`)
    if (named !== undefined && named !== peerId)
      throw new InvalidInputError(`${field}.${i}`, `${quoted(value)} names peer ${named}, not peerId ${peerId}`)
    out.set(addr.toString(), addr)
  }
  return [...out.values()]
}

/**
 * An `addpeers` entry: a peer id, or a full multiaddr ending in `/p2p/<id>`. Throws
 * InvalidInputError naming `field`.
 */
export function parsePeerOrAddress(value: string, field: string): { peerId: string; addr?: Multiaddr } {
  if (!value.startsWith('/')) {
    const peerId = canonicalPeerId(value)
    if (peerId === undefined) throw new InvalidInputError(field, `${quoted(value)} is not a valid peer id or /p2p/ multiaddr`)
    return { peerId }
  }
  const { addr, peerId } = parseDialAddr(value, field)
  if (peerId === undefined) throw new InvalidInputError(field, `${quoted(value)} names no peer: a multiaddr here must end in /p2p/<peerId>`)
  return { peerId, addr }
}
