/**
 * Address classification for the address book: which network group an address belongs to (so one
 * operator cannot fill the book or a dial list with addresses from one network) and whether it is
 * public, private, loopback, link-local, unspecified or reserved.
 *
 * Groups:
 * - IPv4: the /16, written `ip4:1.2`.
 * - IPv6: the /32, written `ip6:2001:db8`. IPv6 addresses that embed an IPv4 address
 *   (IPv4-mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`, Teredo `2001::/32`)
 *   are grouped, and classified, by that IPv4 address, so they cannot dodge the IPv4 limit.
 * - DNS (`/dns`, `/dns4`, `/dns6`, `/dnsaddr`): the registrable-looking domain, written
 *   `dns:example.com`: the last two labels, or three when the name ends in a short second-level
 *   label under a two-letter country code (`foo.example.co.uk` -> `dns:example.co.uk`). This is a
 *   heuristic without the public suffix list; it errs towards merging names into fewer groups.
 *   A DNS name that is really an IPv4 literal is treated as that IP.
 *
 * Only addresses that start with a host (`ip4`, `ip6`, `ip6zone/../ip6`, `dns*`) are accepted; a
 * relayed address (`.../p2p/<relay>/p2p-circuit/p2p/<target>`) is grouped by the relay's host,
 * which is what a dial actually reaches, and its peer id is the target's.
 *
 * Pure functions over strings; `@multiformats/multiaddr` validates and canonicalises, ipaddr.js parses IP literals.
 */
import { multiaddr } from '@multiformats/multiaddr'
import ipaddr from 'ipaddr.js'

type IPv4 = ipaddr.IPv4
type IPv6 = ipaddr.IPv6

export type AddressFamily = 'ip4' | 'ip6' | 'dns'
/**
 * - `public`: routable on the internet.
 * - `private`: 10/8, 172.16/12, 192.168/16, 100.64/10 (CGNAT), fc00::/7 (ULA), fec0::/10, and
 *   single-label DNS names.
 * - `linkLocal`: 169.254/16, fe80::/10, `*.local` DNS names (mDNS).
 * - `loopback`: 127/8, ::1, `localhost` and `*.localhost`.
 * - `unspecified`: 0.0.0.0, ::.
 * - `reserved`: never dialable: 0/8, 224/4 multicast, 240/4 (and broadcast), ff00::/8 multicast,
 *   the documentation nets (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32) and the
 *   benchmarking net 198.18/15.
 */
export type AddressScope = 'public' | 'private' | 'linkLocal' | 'loopback' | 'unspecified' | 'reserved'

export interface ParsedAddress {
  /** Canonical multiaddr text (as `@multiformats/multiaddr` prints it, DNS names lower-cased). */
  multiaddr: string
  family: AddressFamily
  /** Canonical IP text for ip4/ip6 addresses; undefined for DNS addresses. */
  ip?: string
  /** The IP, or the lower-cased DNS name. */
  host: string
  /** Network group: `ip4:a.b`, `ip6:xxxx:yyyy` or `dns:<domain>`. */
  group: string
  scope: AddressScope
  /** The last `/p2p/<id>` component: the peer this address reaches (the target of a relayed address). */
  peerId?: string
  /** True when the address goes through a circuit relay. */
  relayed: boolean
}

/** Thrown by `parseAddress` for a string that is not a dialable host multiaddr. */
export class InvalidAddressError extends Error {
  override name = 'InvalidAddressError'
  constructor(
    readonly address: string,
    reason: string,
  ) {
    super(`invalid address ${JSON.stringify(address.length > 200 ? `${address.slice(0, 200)}...` : address)}: ${reason}`)
  }
}

/** Longest multiaddr string we look at; real ones are well under 1 KB. */
export const MAX_MULTIADDR_LENGTH = 1024

const BASE58_PEER_ID = /^[1-9A-HJ-NP-Za-km-z]{40,128}$/
const BASE32_PEER_ID = /^b[a-z2-7]{40,128}$/

/** A loose syntactic check of a libp2p peer id (base58btc multihash such as `12D3KooW...`/`Qm...`, or a base32 CID). */
export function isPeerIdString(s: unknown): s is string {
  return typeof s === 'string' && (BASE58_PEER_ID.test(s) || BASE32_PEER_ID.test(s))
}

/**
 * A strict dotted-quad IPv4 address (four decimal parts, no leading zeros, each <= 255); undefined
 * otherwise. ipaddr.js alone would also take `0x7f.1`, `010.0.0.1` or `2130706433`, forms a
 * multiaddr never holds and that we refuse rather than guess at.
 */
export function parseIPv4(text: string): IPv4 | undefined {
  return ipaddr.IPv4.isValidFourPartDecimal(text) ? ipaddr.IPv4.parse(text) : undefined
}

/** `::a.b.c.d` (deprecated IPv4-compatible): ipaddr.js reads it as IPv4-mapped, which it is not. */
const IPV4_COMPATIBLE = /^::(\d+\.\d+\.\d+\.\d+)$/

/**
 * An IPv6 address (with `::` and an optional trailing strict dotted quad); undefined when malformed.
 * Refused although ipaddr.js accepts them: zone ids (`%eth0`; a zone is its own `/ip6zone`
 * component) and non-decimal or zero-padded parts in the dotted quad.
 */
export function parseIPv6(text: string): IPv6 | undefined {
  if (text.length === 0 || text.length > 45 || text.includes('%')) return undefined
  const lastColon = text.lastIndexOf(':')
  if (text.includes('.', lastColon) && parseIPv4(text.slice(lastColon + 1)) === undefined) return undefined
  const compatible = IPV4_COMPATIBLE.exec(text)?.[1]
  if (compatible !== undefined) {
    const [a, b, c, d] = (parseIPv4(compatible) as IPv4).octets as [number, number, number, number]
    return new ipaddr.IPv6([0, 0, 0, 0, 0, 0, (a << 8) | b, (c << 8) | d])
  }
  return ipaddr.IPv6.isValid(text) ? ipaddr.IPv6.parse(text) : undefined
}

type Cidr<T> = [T, number]
const v4 = (cidr: string): Cidr<IPv4> => ipaddr.IPv4.parseCIDR(cidr)
const v6 = (cidr: string): Cidr<IPv6> => ipaddr.IPv6.parseCIDR(cidr)
const V4_LOOPBACK = [v4('127.0.0.0/8')]
const V4_PRIVATE = [v4('10.0.0.0/8'), v4('172.16.0.0/12'), v4('192.168.0.0/16'), v4('100.64.0.0/10')]
const V4_LINK_LOCAL = [v4('169.254.0.0/16')]
const V4_RESERVED = [
  v4('0.0.0.0/8'),
  v4('224.0.0.0/4'),
  v4('240.0.0.0/4'),
  v4('192.0.2.0/24'),
  v4('198.51.100.0/24'),
  v4('203.0.113.0/24'),
  v4('198.18.0.0/15'),
]
const inAny4 = (ip: IPv4, ranges: readonly Cidr<IPv4>[]) => ranges.some((r) => ip.match(r))

/** Scope of an IPv4 address. */
export function ipv4ScopeOf(ip: IPv4): AddressScope {
  if (ip.octets.every((o) => o === 0)) return 'unspecified'
  if (inAny4(ip, V4_LOOPBACK)) return 'loopback'
  if (inAny4(ip, V4_PRIVATE)) return 'private'
  if (inAny4(ip, V4_LINK_LOCAL)) return 'linkLocal'
  if (inAny4(ip, V4_RESERVED)) return 'reserved'
  return 'public'
}

const MAPPED = v6('::ffff:0:0/96')
const NAT64 = v6('64:ff9b::/96')
const SIX_TO_FOUR = v6('2002::/16')
const TEREDO = v6('2001::/32')
const v4FromWords = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff])

/** The IPv4 address embedded in an IPv6 address (mapped, NAT64, 6to4, Teredo), if any. */
export function embeddedIPv4(ip: IPv6): IPv4 | undefined {
  const w = (i: number) => ip.parts[i] ?? 0
  if (ip.match(MAPPED) || ip.match(NAT64)) return v4FromWords(w(6), w(7))
  if (ip.match(SIX_TO_FOUR)) return v4FromWords(w(1), w(2))
  // Teredo: the client's IPv4 is the last 32 bits inverted
  if (ip.match(TEREDO)) return v4FromWords(w(6) ^ 0xffff, w(7) ^ 0xffff)
  return undefined
}

const V6_LINK_LOCAL = v6('fe80::/10')
const V6_PRIVATE = [v6('fc00::/7'), v6('fec0::/10')]
const V6_RESERVED = [v6('ff00::/8'), v6('2001:db8::/32'), v6('::/96')] // ::/96: deprecated IPv4-compatible ::a.b.c.d

/** Scope of an IPv6 address (embedded IPv4 addresses are judged as IPv4). */
export function ipv6ScopeOf(ip: IPv6): AddressScope {
  if (ip.parts.every((w) => w === 0)) return 'unspecified'
  if (ip.parts.slice(0, 7).every((w) => w === 0) && ip.parts[7] === 1) return 'loopback'
  const embedded = embeddedIPv4(ip)
  if (embedded !== undefined) return ipv4ScopeOf(embedded)
  if (ip.match(V6_LINK_LOCAL)) return 'linkLocal'
  if (V6_PRIVATE.some((r) => ip.match(r))) return 'private'
  if (V6_RESERVED.some((r) => ip.match(r))) return 'reserved'
  return 'public'
}

const v4Group = (ip: IPv4) => `ip4:${ip.octets[0]}.${ip.octets[1]}`

const SHORT_SLDS = new Set(['co', 'com', 'net', 'org', 'gov', 'edu', 'ac', 'or', 'ne', 'go', 'gob', 'mil', 'nic', 'ltd', 'plc'])

/** Group key for a DNS name (see the module comment). */
export function dnsGroup(name: string): string {
  const labels = name.toLowerCase().replace(/\.$/, '').split('.')
  let keep = 2
  const tld = labels[labels.length - 1] ?? ''
  const sld = labels[labels.length - 2] ?? ''
  if (labels.length >= 3 && tld.length === 2 && (SHORT_SLDS.has(sld) || sld.length <= 2)) keep = 3
  return `dns:${labels.slice(-keep).join('.')}`
}

function dnsScope(name: string): AddressScope {
  const n = name.toLowerCase().replace(/\.$/, '')
  if (n === 'localhost' || n.endsWith('.localhost')) return 'loopback'
  if (n.endsWith('.local')) return 'linkLocal'
  if (!n.includes('.')) return 'private'
  return 'public'
}

const HOST_PROTOCOLS = new Set(['ip4', 'ip6', 'dns', 'dns4', 'dns6', 'dnsaddr'])

/**
 * Parse and classify a multiaddr string. Throws InvalidAddressError when it is not a valid
 * multiaddr, does not start with a host, carries a malformed peer id, or (other than `/dnsaddr`)
 * names no transport after the host.
 */
export function parseAddress(input: string): ParsedAddress {
  if (typeof input !== 'string') throw new InvalidAddressError(String(input), 'not a string')
  if (input.length > MAX_MULTIADDR_LENGTH) throw new InvalidAddressError(input, `longer than ${MAX_MULTIADDR_LENGTH} characters`)
  let components: Array<{ name: string; value?: string }>
  let canonical: string
  try {
    const ma = multiaddr(input)
    components = ma.getComponents()
    canonical = ma.toString()
  } catch (err) {
    throw new InvalidAddressError(input, (err as Error).message)
  }
  let i = 0
  if (components[0]?.name === 'ip6zone') i = 1
  const hostC = components[i]
  if (hostC === undefined || !HOST_PROTOCOLS.has(hostC.name) || hostC.value === undefined) {
    throw new InvalidAddressError(input, 'must start with /ip4, /ip6, /dns, /dns4, /dns6 or /dnsaddr')
  }
  if (i === 1 && hostC.name !== 'ip6') throw new InvalidAddressError(input, '/ip6zone must be followed by /ip6')
  const rest = components.slice(i + 1)
  if (hostC.name !== 'dnsaddr' && !rest.some((c) => c.name !== 'p2p')) {
    throw new InvalidAddressError(input, 'names no transport after the host')
  }
  let peerId: string | undefined
  let relayed = false
  for (const c of rest) {
    if (c.name === 'p2p') {
      if (!isPeerIdString(c.value)) throw new InvalidAddressError(input, `malformed peer id ${JSON.stringify(c.value)}`)
      peerId = c.value
    } else if (c.name === 'p2p-circuit') {
      relayed = true
      peerId = undefined
    }
  }

  let family: AddressFamily
  let ip: string | undefined
  let host: string
  let group: string
  let scope: AddressScope
  if (hostC.name === 'ip4') {
    const v4ip = parseIPv4(hostC.value)
    if (v4ip === undefined) throw new InvalidAddressError(input, `malformed IPv4 address ${hostC.value}`)
    family = 'ip4'
    ip = host = hostC.value
    group = v4Group(v4ip)
    scope = ipv4ScopeOf(v4ip)
  } else if (hostC.name === 'ip6') {
    const v6ip = parseIPv6(hostC.value)
    if (v6ip === undefined) throw new InvalidAddressError(input, `malformed IPv6 address ${hostC.value}`)
    family = 'ip6'
    ip = host = hostC.value
    const embedded = embeddedIPv4(v6ip)
    group = embedded !== undefined ? v4Group(embedded) : `ip6:${(v6ip.parts[0] ?? 0).toString(16)}:${(v6ip.parts[1] ?? 0).toString(16)}`
    scope = ipv6ScopeOf(v6ip)
    if (i === 1 && scope === 'public') scope = 'linkLocal' // a zone only makes sense for a link-scoped address
  } else {
    const name = hostC.value.toLowerCase()
    if (name !== hostC.value) {
      canonical = canonical.replace(`/${hostC.name}/${hostC.value}`, `/${hostC.name}/${name}`)
    }
    family = 'dns'
    host = name
    const literal = parseIPv4(name)
    if (literal !== undefined) {
      group = v4Group(literal)
      scope = ipv4ScopeOf(literal)
    } else {
      group = dnsGroup(name)
      scope = dnsScope(name)
    }
  }
  const out: ParsedAddress = { multiaddr: canonical, family, host, group, scope, relayed }
  if (ip !== undefined) out.ip = ip
  if (peerId !== undefined) out.peerId = peerId
  return out
}

/** Like parseAddress, but returns undefined instead of throwing. */
export function tryParseAddress(input: string): ParsedAddress | undefined {
  try {
    return parseAddress(input)
  } catch {
    return undefined
  }
}

/** The network group of a multiaddr string, or undefined when it is not a valid host address. */
export function addressGroup(input: string): string | undefined {
  return tryParseAddress(input)?.group
}
