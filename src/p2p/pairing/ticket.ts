/**
 * Pairing tickets: one copy-pasteable string (also shown as a QR code, see qr.ts) that tells a joiner
 * which peer to dial, where, the one-time secret to prove and until when the ticket holds.
 *
 * Text: `sbp1` + base32 (RFC 4648 alphabet a-z2-7, lowercase, no padding) of `body ‖ checksum`.
 * `sbp` names Switchboard pairing and the one character after it the format version. The reader
 * ignores case and all whitespace (people retype tickets from screens and QR codes).
 *
 * Version 1 body, every varint an unsigned LEB128 (multiformats' varint, at most 2^53 - 1):
 *   varint len, peer id multihash bytes  (an Ed25519 id is 38 bytes)
 *   varint len, secret                   (16 bytes in version 1; the length is there to say "wrong length")
 *   varint expiresAt                     (unix milliseconds)
 *   varint count, then per address: varint len, multiaddr bytes  (at most MAX_TICKET_ADDRS)
 * Addresses are transport addresses without the final `/p2p/<peerId>` (the ticket names the peer
 * once; ticketDialAddrs appends it). They must start with /ip4, /ip6, /dns, /dns4, /dns6 or /dnsaddr.
 * checksum = the first 4 bytes of sha256(ascii `sbp1` ‖ body), so the version is covered too and any
 * single mistyped character is caught before a network call (a 2^-32 chance to miss a random error).
 *
 * A version 2 keeps the `sbp` root, takes the next version character and its own body layout;
 * decodeTicket names the version it found when it cannot read it.
 */
import { createHash, randomBytes } from 'node:crypto'
import { peerIdFromMultihash, peerIdFromString } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { base32 } from 'multiformats/bases/base32'
import * as Digest from 'multiformats/hashes/digest'
import { InvalidInputError } from '../validate.ts'

const PREFIX_ROOT = 'sbp'
export const TICKET_VERSION = 1
/** The text every version 1 ticket starts with: `sbp` and the version. */
export const TICKET_PREFIX = `${PREFIX_ROOT}${TICKET_VERSION}`
export const TICKET_SECRET_BYTES = 16
export const MAX_TICKET_ADDRS = 8
/** Longest multiaddr (in bytes) a ticket carries. */
export const MAX_TICKET_ADDR_BYTES = 255
/** Longer text (whitespace removed) is refused before decoding; a full ticket is about 3,400. */
export const MAX_TICKET_CHARS = 4096
const CHECKSUM_BYTES = 4
const MAX_PEER_ID_BYTES = 128
/** The first protocol of every address a ticket carries. */
const ADDRESS_STARTS = new Set(['ip4', 'ip6', 'dns', 'dns4', 'dns6', 'dnsaddr'])
const BASE32_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'
/** What people type for a character base32 leaves out. */
const LOOKALIKES: Record<string, string> = { '0': 'o', '1': 'l or i', '8': 'b', '9': 'g' }

export interface Ticket {
  /** The peer to dial (its string form, `12D3KooW...`). */
  peerId: string
  /** Its dialable addresses, without the final `/p2p/<peerId>`; may be empty (then found by peer id). */
  addrs: string[]
  /** The one-time secret, TICKET_SECRET_BYTES long. */
  secret: Uint8Array
  /** Unix milliseconds after which the ticket no longer pairs. */
  expiresAt: number
}

/** Which problem a ticket has; the message says it in words. */
export type TicketProblem =
  | 'empty'
  | 'too-long'
  | 'prefix'
  | 'version'
  | 'base32'
  | 'truncated'
  | 'checksum'
  | 'malformed'
  | 'peer-id'
  | 'secret'
  | 'expiry'
  | 'too-many-addrs'
  | 'address'
  | 'self'

/** A ticket that cannot be used (400); `problem` names which check failed, the message says how. */
export class InvalidTicketError extends InvalidInputError {
  override name = 'InvalidTicketError'
  constructor(
    readonly problem: TicketProblem,
    message: string,
  ) {
    super('ticket', message)
  }
}

/** A fresh one-time secret. */
export function newSecret(): Uint8Array {
  return new Uint8Array(randomBytes(TICKET_SECRET_BYTES))
}

/** Whether the ticket no longer pairs at `now` (unix ms); the caller answers 410 for it. */
export function isExpired(t: Pick<Ticket, 'expiresAt'>, now: number = Date.now()): boolean {
  return now >= t.expiresAt
}

/** The ticket's addresses with `/p2p/<peerId>` appended, ready to dial or to put in an address book. */
export function ticketDialAddrs(t: Pick<Ticket, 'peerId' | 'addrs'>): string[] {
  return t.addrs.map((a) => `${a}/p2p/${t.peerId}`)
}

/**
 * The ticket's text. Addresses may end in `/p2p/<t.peerId>` (dropped) and repeat (kept once); anything
 * a reader would refuse (another peer's address, an unknown format, too many, a secret of the wrong
 * length) throws a RangeError: the caller's own data is wrong, not a client's.
 */
export function encodeTicket(t: Ticket): string {
  let peerIdBytes: Uint8Array
  try {
    peerIdBytes = peerIdFromString(t.peerId).toMultihash().bytes
  } catch {
    throw new RangeError(`encodeTicket: ${JSON.stringify(t.peerId)} is not a peer id`)
  }
  if (!(t.secret instanceof Uint8Array) || t.secret.length !== TICKET_SECRET_BYTES)
    throw new RangeError(`encodeTicket: the secret must be ${TICKET_SECRET_BYTES} bytes`)
  if (!Number.isSafeInteger(t.expiresAt) || t.expiresAt < 0)
    throw new RangeError(`encodeTicket: expiresAt ${t.expiresAt} is not a unix time in milliseconds`)
  const addrs: Uint8Array[] = []
  const seen = new Set<string>()
  for (const text of t.addrs) {
    let ma: Multiaddr
    try {
      ma = multiaddr(text)
    } catch {
      throw new RangeError(`encodeTicket: ${JSON.stringify(text)} is not a multiaddr`)
    }
    const result = transportAddr(ma, t.peerId)
    if (typeof result === 'string') throw new RangeError(`encodeTicket: ${JSON.stringify(text)} ${result}`)
    const key = result.toString()
    if (seen.has(key)) continue
    seen.add(key)
    if (result.bytes.length > MAX_TICKET_ADDR_BYTES)
      throw new RangeError(`encodeTicket: ${JSON.stringify(text)} is over ${MAX_TICKET_ADDR_BYTES} bytes`)
    addrs.push(result.bytes)
  }
  if (addrs.length > MAX_TICKET_ADDRS) throw new RangeError(`encodeTicket: ${addrs.length} addresses, at most ${MAX_TICKET_ADDRS}`)

  const parts: number[] = []
  const put = (bytes: Uint8Array) => {
    writeVarint(parts, bytes.length)
    for (const b of bytes) parts.push(b)
  }
  put(peerIdBytes)
  put(t.secret)
  writeVarint(parts, t.expiresAt)
  writeVarint(parts, addrs.length)
  for (const a of addrs) put(a)
  const body = Uint8Array.from(parts)
  const all = new Uint8Array(body.length + CHECKSUM_BYTES)
  all.set(body)
  all.set(checksum(body), body.length)
  return TICKET_PREFIX + base32.baseEncode(all)
}

/**
 * Reads a ticket, ignoring case and whitespace, or throws InvalidTicketError naming the problem.
 * Expiry is not checked here (see isExpired); `selfPeerId` refuses a ticket naming our own node.
 */
export function decodeTicket(text: string, opts: { selfPeerId?: string } = {}): Ticket {
  if (typeof text !== 'string') throw new InvalidTicketError('empty', 'is not a string')
  const clean = text.replace(/\s+/g, '').toLowerCase()
  if (clean === '') throw new InvalidTicketError('empty', 'is empty')
  if (clean.length > MAX_TICKET_CHARS)
    throw new InvalidTicketError('too-long', `is ${clean.length} characters; a ticket has at most ${MAX_TICKET_CHARS}`)
  if (!clean.startsWith(PREFIX_ROOT)) {
    const start = JSON.stringify(clean.slice(0, 8))
    throw new InvalidTicketError(
      'prefix',
      `does not start with "${TICKET_PREFIX}" (it starts with ${start}${clean.length > 8 ? '...' : ''}): not a Switchboard pairing ticket`,
    )
  }
  if (clean.length === PREFIX_ROOT.length)
    throw new InvalidTicketError('truncated', `is truncated: nothing follows "${PREFIX_ROOT}" (copy the whole ticket)`)
  const version = clean.charAt(PREFIX_ROOT.length)
  if (version !== String(TICKET_VERSION))
    throw new InvalidTicketError(
      'version',
      `has version "${version}" ("${PREFIX_ROOT}${version}..."); this daemon reads version ${TICKET_VERSION} tickets ("${TICKET_PREFIX}...")`,
    )
  const payload = clean.slice(TICKET_PREFIX.length)
  for (let i = 0; i < payload.length; i++) {
    const c = payload.charAt(i)
    if (BASE32_ALPHABET.includes(c)) continue
    const hint = LOOKALIKES[c] === undefined ? '' : ` (did you mean ${LOOKALIKES[c]}?)`
    throw new InvalidTicketError(
      'base32',
      `is not base32: character ${i + TICKET_PREFIX.length + 1} is ${JSON.stringify(c)}${hint}; tickets use only a-z and 2-7`,
    )
  }
  const { bytes, canonical } = readBase32(payload)

  const body = bytes.subarray(0, Math.max(0, bytes.length - CHECKSUM_BYTES))
  const sumOk = canonical && bytes.length > CHECKSUM_BYTES && equal(checksum(body), bytes.subarray(body.length))
  if (!sumOk) {
    // Tell a cut-off ticket from a mistyped one by whether its fields fit in what is there (a typo in
    // one of the few length bytes can look cut off too, so that message names both).
    const short = shortfall(bytes)
    if (short > 0)
      throw new InvalidTicketError(
        'truncated',
        `is truncated (at least ${short} byte${short === 1 ? '' : 's'} missing: copy the whole ticket) or mistyped: the checksum does not match`,
      )
    throw new InvalidTicketError('checksum', 'checksum does not match (mistyped?)')
  }
  return readBody(body, opts.selfPeerId)
}

/** `ma` without a final `/p2p/<peerId>`, or why a ticket cannot carry it. */
function transportAddr(ma: Multiaddr, peerId: string): Multiaddr | string {
  const components = ma.getComponents()
  const first = components[0]
  if (first === undefined || !ADDRESS_STARTS.has(first.name))
    return `is of an unknown address format (${first?.name ?? 'empty'}): it must start with /ip4, /ip6, /dns, /dns4, /dns6 or /dnsaddr`
  const last = components[components.length - 1]
  if (last?.name !== 'p2p') return ma
  if (last.value !== peerId) return `names another peer (${last.value}), not ${peerId}`
  return multiaddr(components.slice(0, -1))
}

function readBody(body: Uint8Array, selfPeerId: string | undefined): Ticket {
  const r = new Reader(body)
  const malformed = () => new InvalidTicketError('malformed', 'is malformed: its fields do not fit its length (made by a broken encoder?)')
  try {
    const peerIdBytes = r.bytes(r.varint())
    let peerId: string
    try {
      if (peerIdBytes.length > MAX_PEER_ID_BYTES) throw new RangeError('too long')
      peerId = peerIdFromMultihash(Digest.decode(peerIdBytes)).toString()
    } catch {
      throw new InvalidTicketError('peer-id', `names no valid peer id (${peerIdBytes.length} bytes that are not a libp2p peer id)`)
    }
    if (selfPeerId !== undefined && peerId === selfPeerId)
      throw new InvalidTicketError('self', `names our own peer id ${peerId}: a node cannot pair with itself`)
    const secret = r.bytes(r.varint())
    if (secret.length !== TICKET_SECRET_BYTES)
      throw new InvalidTicketError('secret', `has a secret of ${secret.length} bytes; version 1 secrets are ${TICKET_SECRET_BYTES}`)
    const expiresAt = r.varint()
    const count = r.varint()
    if (count > MAX_TICKET_ADDRS) throw new InvalidTicketError('too-many-addrs', `carries ${count} addresses; at most ${MAX_TICKET_ADDRS}`)
    const addrs: string[] = []
    for (let i = 1; i <= count; i++) {
      const bytes = r.bytes(r.varint())
      const which = `address ${i} of ${count}`
      if (bytes.length > MAX_TICKET_ADDR_BYTES)
        throw new InvalidTicketError('address', `${which} is ${bytes.length} bytes, over ${MAX_TICKET_ADDR_BYTES}`)
      let ma: Multiaddr
      try {
        ma = multiaddr(bytes)
        ma.toString()
      } catch (err) {
        throw new InvalidTicketError('address', `${which} is of an unknown or invalid address format: ${(err as Error).message}`)
      }
      const result = transportAddr(ma, peerId)
      if (typeof result === 'string') throw new InvalidTicketError('address', `${which} (${ma.toString()}) ${result}`)
      addrs.push(result.toString())
    }
    if (!r.done()) throw malformed()
    return { peerId, addrs, secret: Uint8Array.from(secret), expiresAt }
  } catch (err) {
    if (err instanceof OutOfBytes || err instanceof RangeError) throw malformed()
    throw err
  }
}

/** At least how many bytes `bytes` lacks for the fields its lengths announce and the checksum (0: none). */
function shortfall(bytes: Uint8Array): number {
  const r = new Reader(bytes)
  try {
    r.skip(r.varint())
    r.skip(r.varint())
    r.varint()
    const count = r.varint()
    for (let i = 0; i < count; i++) r.skip(r.varint())
  } catch (err) {
    if (err instanceof OutOfBytes) return err.missing + CHECKSUM_BYTES
    if (err instanceof RangeError) return 0 // an absurd varint: mistyped, not cut off
    throw err
  }
  try {
    r.skip(CHECKSUM_BYTES)
    return 0
  } catch (err) {
    if (err instanceof OutOfBytes) return err.missing
    throw err
  }
}

function checksum(body: Uint8Array): Uint8Array {
  const hash = createHash('sha256').update(TICKET_PREFIX, 'ascii').update(body).digest()
  return new Uint8Array(hash.subarray(0, CHECKSUM_BYTES))
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

/**
 * Base32 (a-z2-7, already checked) to bytes. `canonical` is false when the text is not exactly what an
 * encoder writes: a length no byte count gives, or set bits in the last character's unused tail.
 */
function readBase32(text: string): { bytes: Uint8Array; canonical: boolean } {
  const out = new Uint8Array(Math.floor((text.length * 5) / 8))
  let bits = 0
  let buffer = 0
  let n = 0
  for (const c of text) {
    buffer = ((buffer << 5) | BASE32_ALPHABET.indexOf(c)) & 0xfff
    bits += 5
    if (bits >= 8) {
      bits -= 8
      out[n++] = (buffer >> bits) & 0xff
    }
  }
  const canonical = bits < 5 && (buffer & ((1 << bits) - 1)) === 0
  return { bytes: out, canonical }
}

function writeVarint(out: number[], value: number): void {
  let v = value
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80)
    v = Math.floor(v / 0x80)
  }
  out.push(v)
}

class OutOfBytes extends Error {
  constructor(readonly missing: number) {
    super(`${missing} bytes missing`)
  }
}

class Reader {
  private at = 0
  constructor(private readonly buf: Uint8Array) {}
  done(): boolean {
    return this.at === this.buf.length
  }
  /** An unsigned LEB128 varint up to 2^53 - 1 (RangeError past it). */
  varint(): number {
    let value = 0
    let scale = 1
    for (;;) {
      if (this.at >= this.buf.length) throw new OutOfBytes(1)
      const b = this.buf[this.at++] as number
      value += (b & 0x7f) * scale
      if (value > Number.MAX_SAFE_INTEGER) throw new RangeError('varint over 2^53')
      if (b < 0x80) return value
      scale *= 0x80
    }
  }
  bytes(n: number): Uint8Array {
    const end = this.at + n
    if (end > this.buf.length) throw new OutOfBytes(end - this.buf.length)
    const out = this.buf.subarray(this.at, end)
    this.at = end
    return out
  }
  skip(n: number): void {
    this.bytes(n)
  }
}
