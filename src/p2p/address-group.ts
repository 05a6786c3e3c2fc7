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
 * Pure functions over strings; `@multiformats/multiaddr` is used only to validate and canonicalise.
 */
import { multiaddr } from '@multiformats/multiaddr'

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

/** Parse a dotted-quad IPv4 address into a 32-bit unsigned number; undefined when malformed. */
export function parseIPv4(text: string): number | undefined {
  const parts = text.split('.')
  if (parts.length !== 4) return undefined
  let n = 0
  for (const p of parts) {
    if (p.length === 0 || p.length > 3 || (p.length > 1 && p[0] === '0')) return undefined
    let v = 0
    for (let i = 0; i < p.length; i++) {
      const d = p.charCodeAt(i) - 48
      if (d < 0 || d > 9) return undefined
      v = v * 10 + d
    }
    if (v > 255) return undefined
    n = n * 256 + v
  }
  return n
}

/** Parse an IPv6 address (with `::` and an optional trailing dotted quad) into eight 16-bit words. */
export function parseIPv6(text: string): number[] | undefined {
  if (text.length === 0 || text.length > 45) return undefined
  let head = text
  let tail: number[] = []
  const lastColon = text.lastIndexOf(':')
  if (text.includes('.', lastColon)) {
    const v4 = parseIPv4(text.slice(lastColon + 1))
    if (v4 === undefined) return undefined
    tail = [Math.floor(v4 / 65536), v4 % 65536]
    head = text.slice(0, lastColon + 1)
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1)
  }
  const halves = head.split('::')
  if (halves.length > 2) return undefined
  const parseWords = (s: string): number[] | undefined => {
    if (s === '') return []
    const out: number[] = []
    for (const w of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(w)) return undefined
      out.push(Number.parseInt(w, 16))
    }
    return out
  }
  const left = parseWords(halves[0] ?? '')
  if (left === undefined) return undefined
  if (halves.length === 1) {
    const words = [...left, ...tail]
    return words.length === 8 ? words : undefined
  }
  const right = parseWords(halves[1] ?? '')
  if (right === undefined) return undefined
  const fill = 8 - left.length - right.length - tail.length
  if (fill < 1) return undefined
  return [...left, ...new Array<number>(fill).fill(0), ...right, ...tail]
}

type V4Range = readonly [base: number, size: number]
const v4Range = (base: string, bits: number): V4Range => [parseIPv4(base) as number, 2 ** (32 - bits)]
const inAny = (ip: number, ranges: readonly V4Range[]) => ranges.some(([base, size]) => ip >= base && ip < base + size)
const V4_LOOPBACK = [v4Range('127.0.0.0', 8)]
const V4_PRIVATE = [v4Range('10.0.0.0', 8), v4Range('172.16.0.0', 12), v4Range('192.168.0.0', 16), v4Range('100.64.0.0', 10)]
const V4_LINK_LOCAL = [v4Range('169.254.0.0', 16)]
const V4_RESERVED = [
  v4Range('0.0.0.0', 8),
  v4Range('224.0.0.0', 4),
  v4Range('240.0.0.0', 4),
  v4Range('192.0.2.0', 24),
  v4Range('198.51.100.0', 24),
  v4Range('203.0.113.0', 24),
  v4Range('198.18.0.0', 15),
]

/** Scope of an IPv4 address given as a 32-bit number. */
export function ipv4ScopeOf(ip: number): AddressScope {
  if (ip === 0) return 'unspecified'
  if (inAny(ip, V4_LOOPBACK)) return 'loopback'
  if (inAny(ip, V4_PRIVATE)) return 'private'
  if (inAny(ip, V4_LINK_LOCAL)) return 'linkLocal'
  if (inAny(ip, V4_RESERVED)) return 'reserved'
  return 'public'
}

/** The IPv4 address embedded in an IPv6 address (mapped, NAT64, 6to4, Teredo), if any. */
export function embeddedIPv4(words: readonly number[]): number | undefined {
  const w = (i: number) => words[i] ?? 0
  const v4 = (hi: number, lo: number) => hi * 65536 + lo
  // ::ffff:a.b.c.d
  if (w(0) === 0 && w(1) === 0 && w(2) === 0 && w(3) === 0 && w(4) === 0 && w(5) === 0xffff) return v4(w(6), w(7))
  // 64:ff9b::a.b.c.d (NAT64 well-known prefix)
  if (w(0) === 0x64 && w(1) === 0xff9b && w(2) === 0 && w(3) === 0 && w(4) === 0 && w(5) === 0) return v4(w(6), w(7))
  // 2002:aabb:ccdd::/48 (6to4)
  if (w(0) === 0x2002) return v4(w(1), w(2))
  // 2001:0000::/32 (Teredo): the client's IPv4 is the last 32 bits inverted
  if (w(0) === 0x2001 && w(1) === 0) return v4(w(6) ^ 0xffff, w(7) ^ 0xffff)
  return undefined
}

/** Scope of an IPv6 address given as eight words (embedded IPv4 addresses are judged as IPv4). */
export function ipv6ScopeOf(words: readonly number[]): AddressScope {
  const w0 = words[0] ?? 0
  if (words.every((w) => w === 0)) return 'unspecified'
  if (words.slice(0, 7).every((w) => w === 0) && words[7] === 1) return 'loopback'
  const v4 = embeddedIPv4(words)
  if (v4 !== undefined) return ipv4ScopeOf(v4)
  if ((w0 & 0xffc0) === 0xfe80) return 'linkLocal'
  if ((w0 & 0xfe00) === 0xfc00 || (w0 & 0xffc0) === 0xfec0) return 'private'
  if ((w0 & 0xff00) === 0xff00) return 'reserved'
  if (w0 === 0x2001 && words[1] === 0x0db8) return 'reserved'
  if (words.slice(0, 6).every((w) => w === 0)) return 'reserved' // deprecated IPv4-compatible ::a.b.c.d
  return 'public'
}

const v4Group = (ip: number) => `ip4:${Math.floor(ip / 16777216)}.${Math.floor(ip / 65536) % 256}`

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
    const n = parseIPv4(hostC.value)
    if (n === undefined) throw new InvalidAddressError(input, `malformed IPv4 address ${hostC.value}`)
    family = 'ip4'
    ip = host = hostC.value
    group = v4Group(n)
    scope = ipv4ScopeOf(n)
  } else if (hostC.name === 'ip6') {
    const words = parseIPv6(hostC.value)
    if (words === undefined) throw new InvalidAddressError(input, `malformed IPv6 address ${hostC.value}`)
    family = 'ip6'
    ip = host = hostC.value
    const v4 = embeddedIPv4(words)
    group = v4 !== undefined ? v4Group(v4) : `ip6:${(words[0] ?? 0).toString(16)}:${(words[1] ?? 0).toString(16)}`
    scope = ipv6ScopeOf(words)
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
