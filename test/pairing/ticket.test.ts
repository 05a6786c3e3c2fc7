import { createHash } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { base32 } from 'multiformats/bases/base32'
import QRCode from 'qrcode'
import { beforeAll, describe, expect, it } from 'vitest'
import { InvalidRequestError } from '../../src/errors.ts'
import { qrSvg } from '../../src/p2p/pairing/qr.ts'
import {
  decodeTicket,
  encodeTicket,
  InvalidTicketError,
  isExpired,
  MAX_TICKET_ADDRS,
  MAX_TICKET_CHARS,
  newSecret,
  TICKET_PREFIX,
  type Ticket,
  type TicketProblem,
  ticketDialAddrs,
} from '../../src/p2p/pairing/ticket.ts'
import { InvalidInputError } from '../../src/p2p/validate.ts'
import { toRpcError } from '../../src/server/rpc-error.ts'

const TCP = '/ip4/192.168.1.20/tcp/4001'
const WS = '/ip4/192.168.1.20/tcp/4002/ws'
const WEBRTC = '/ip4/192.168.1.20/udp/4003/webrtc-direct/certhash/uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g'
const IP6 = '/ip6/2001:db8::1/tcp/4001'
const DNS4 = '/dns4/laptop.example.com/tcp/443/wss'
/** An RSA peer id (a sha256 multihash, no key inside): one of the IPFS bootstrap nodes. */
const RSA_ID = 'QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC'
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'
const EXPIRES = 1_800_000_000_123

let ed: string
let secp: string
let other: string

beforeAll(async () => {
  ed = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
  secp = peerIdFromPrivateKey(await generateKeyPair('secp256k1')).toString()
  other = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
})

/** A fixed secret, so failures are reproducible. */
const SECRET = Uint8Array.from({ length: 16 }, (_, i) => i * 17)
const ticket = (over: Partial<Ticket> = {}): Ticket => ({
  peerId: ed,
  addrs: [TCP, WS, WEBRTC],
  secret: SECRET,
  expiresAt: EXPIRES,
  ...over,
})

/** Expects `fn` to throw an InvalidTicketError for `problem` whose message matches `message`; returns it. */
function rejects(fn: () => unknown, problem: TicketProblem, message: RegExp): InvalidTicketError {
  let caught: unknown
  try {
    fn()
  } catch (err) {
    caught = err
  }
  expect(caught).toBeInstanceOf(InvalidTicketError)
  const err = caught as InvalidTicketError
  expect({ problem: err.problem, message: err.message }).toEqual({ problem, message: expect.stringMatching(message) })
  expect(err.message.startsWith('ticket: ')).toBe(true)
  return err
}

// A second, independent writer of the version 1 format (docs/protocol.md "Tickets"), to make tickets
// the encoder refuses to write: wrong lengths, unknown addresses, too many of them, trailing bytes.
const varint = (n: number): number[] => {
  const out: number[] = []
  let v = n
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80)
    v = Math.floor(v / 0x80)
  }
  out.push(v)
  return out
}
const field = (bytes: Uint8Array | number[]): number[] => [...varint(bytes.length), ...bytes]
function craft(parts: {
  peerId?: Uint8Array
  secret?: Uint8Array
  expiresAt?: number
  addrs?: Array<Uint8Array | number[]>
  count?: number
  tail?: number[]
}): string {
  const addrs = parts.addrs ?? [multiaddr(TCP).bytes]
  const body = Uint8Array.from([
    ...field(parts.peerId ?? peerIdFromString(ed).toMultihash().bytes),
    ...field(parts.secret ?? SECRET),
    ...varint(parts.expiresAt ?? EXPIRES),
    ...varint(parts.count ?? addrs.length),
    ...addrs.flatMap((a) => field(a)),
    ...(parts.tail ?? []),
  ])
  const sum = createHash('sha256').update('sbp1').update(body).digest().subarray(0, 4)
  return `sbp1${base32.baseEncode(Uint8Array.from([...body, ...sum]))}`
}

describe('pairing tickets', () => {
  it('round-trips real peer ids and tcp, ws, webrtc-direct (certhash), ip6 and dns4 addresses', () => {
    for (const peerId of [ed, secp, RSA_ID]) {
      const t = ticket({ peerId, addrs: [TCP, WS, WEBRTC, IP6, DNS4] })
      const text = encodeTicket(t)
      expect(text).toMatch(/^sbp1[a-z2-7]+$/)
      expect(decodeTicket(text)).toEqual(t)
    }
    const empty = ticket({ addrs: [] })
    expect(decodeTicket(encodeTicket(empty))).toEqual(empty)
  })

  it('keeps addresses without /p2p/<peerId> (added back by ticketDialAddrs), drops repeats, keeps relay hops', () => {
    const relay = `/ip4/203.0.113.9/tcp/4001/p2p/${other}/p2p-circuit`
    const t = ticket({ addrs: [`${TCP}/p2p/${ed}`, TCP, `${relay}/p2p/${ed}`] })
    const back = decodeTicket(encodeTicket(t))
    expect(back.addrs).toEqual([TCP, relay])
    expect(ticketDialAddrs(back)).toEqual([`${TCP}/p2p/${ed}`, `${relay}/p2p/${ed}`])
  })

  it('is 222 characters for one Ed25519 peer and three addresses (tcp, ws, webrtc-direct)', () => {
    // Measured: 222 characters (4 prefix + 218 base32 of 136 bytes: 39 peer id, 17 secret, 6 expiry,
    // 1 count, 9 + 11 + 49 addresses, 4 checksum). Its QR code (upper case, level M) is 53 x 53 modules.
    const text = encodeTicket(ticket())
    expect(text.length).toBe(222)
  })

  it('reads a ticket retyped in upper case, wrapped, grouped and padded with whitespace', () => {
    const t = ticket()
    const text = encodeTicket(t)
    const upper = text.toUpperCase()
    const grouped = upper.match(/.{1,5}/g)?.join(' ') ?? ''
    const wrapped = `\n\t  ${grouped.slice(0, 40)}\r\n${grouped.slice(40)}  \n`
    expect(decodeTicket(upper)).toEqual(t)
    expect(decodeTicket(wrapped)).toEqual(t)
    expect(decodeTicket(`  ${text.slice(0, 50)}${text.slice(50).toUpperCase()}\n`)).toEqual(t)
  })

  it('catches every single-character typo after the prefix with the checksum', () => {
    const text = encodeTicket(ticket())
    let tried = 0
    for (let i = TICKET_PREFIX.length; i < text.length; i++) {
      for (const c of ALPHABET) {
        if (c === text[i]) continue
        const typo = text.slice(0, i) + c + text.slice(i + 1)
        expect(() => decodeTicket(typo)).toThrow(/^ticket: .*checksum does not match/)
        tried++
      }
    }
    expect(tried).toBe((text.length - TICKET_PREFIX.length) * 31)
  })

  it('catches swapped neighbours, a dropped character and a doubled one', () => {
    const text = encodeTicket(ticket())
    for (let i = TICKET_PREFIX.length; i < text.length; i++) {
      const dropped = text.slice(0, i) + text.slice(i + 1)
      const doubled = text.slice(0, i) + text.charAt(i) + text.slice(i)
      const variants = [dropped, doubled]
      if (i + 1 < text.length && text[i] !== text[i + 1]) variants.push(text.slice(0, i) + text[i + 1] + text[i] + text.slice(i + 2))
      for (const v of variants) expect(() => decodeTicket(v)).toThrow(/checksum does not match/)
    }
  })

  it('names each problem of bad input', () => {
    const good = encodeTicket(ticket())
    rejects(() => decodeTicket(''), 'empty', /^ticket: is empty$/)
    rejects(() => decodeTicket(' \n\t '), 'empty', /is empty/)
    rejects(() => decodeTicket('x'.repeat(MAX_TICKET_CHARS + 1)), 'too-long', /is 4097 characters; a ticket has at most 4096/)
    rejects(
      () => decodeTicket('hello world'),
      'prefix',
      /does not start with "sbp1" \(it starts with "hellowor"\.\.\.\): not a Switchboard pairing ticket/,
    )
    rejects(() => decodeTicket(`x${good}`), 'prefix', /does not start with "sbp1"/)
    rejects(() => decodeTicket(`sbp2${good.slice(4)}`), 'version', /has version "2" \("sbp2\.\.\."\); this daemon reads version 1 tickets/)
    rejects(() => decodeTicket(`SBP7${good.slice(4)}`), 'version', /has version "7"/)
    rejects(() => decodeTicket('sbp'), 'truncated', /is truncated: nothing follows "sbp"/)
    rejects(() => decodeTicket('sbp1'), 'truncated', /is truncated/)
    rejects(
      () => decodeTicket(`${good.slice(0, 20)}8${good.slice(21)}`),
      'base32',
      /is not base32: character 21 is "8" \(did you mean b\?\); tickets use only a-z and 2-7/,
    )
    rejects(() => decodeTicket(`${good.slice(0, 9)}0${good.slice(10)}`), 'base32', /character 10 is "0" \(did you mean o\?\)/)
    rejects(() => decodeTicket(`${good}!`), 'base32', /character 223 is "!"; tickets/)
    rejects(() => decodeTicket(`${good.slice(0, 30)}-${good.slice(30)}`), 'base32', /character 31 is "-"/)
  })

  it('tells a cut-off ticket from a mistyped one', () => {
    const good = encodeTicket(ticket())
    rejects(
      () => decodeTicket(good.slice(0, -1)),
      'truncated',
      /^ticket: is truncated \(at least 1 byte missing: copy the whole ticket\) or mistyped: the checksum does not match$/,
    )
    rejects(() => decodeTicket(good.slice(0, -20)), 'truncated', /is truncated \(at least 13 bytes missing/)
    rejects(() => decodeTicket(good.slice(0, 120)), 'truncated', /is truncated/)
    rejects(() => decodeTicket(good.slice(0, 6)), 'truncated', /is truncated/)
    for (let n = TICKET_PREFIX.length + 1; n < good.length; n++) expect(() => decodeTicket(good.slice(0, n))).toThrow(/truncated/)
    // a typo in the secret (bytes 40-55, characters 69-93)
    const flipped = good.slice(0, 80) + (good[80] === 'a' ? 'b' : 'a') + good.slice(81)
    rejects(() => decodeTicket(flipped), 'checksum', /^ticket: checksum does not match \(mistyped\?\)$/)
    // a typo in the address count (byte 62) makes the fields overrun: both causes are named
    const count = good.slice(0, 103) + (good[103] === 'z' ? 'y' : 'z') + good.slice(104)
    rejects(() => decodeTicket(count), 'truncated', /is truncated \(at least \d+ bytes missing: copy the whole ticket\) or mistyped/)
  })

  it('refuses a well-formed ticket whose fields are wrong, naming the field', () => {
    expect(decodeTicket(craft({}))).toEqual(ticket({ addrs: [TCP] }))
    rejects(() => decodeTicket(craft({ peerId: Uint8Array.from([0x12, 0x20, 1, 2, 3]) })), 'peer-id', /names no valid peer id/)
    rejects(() => decodeTicket(craft({ peerId: Uint8Array.from([0x00, 0x03, 1, 2, 3]) })), 'peer-id', /names no valid peer id \(5 bytes/)
    rejects(() => decodeTicket(craft({ secret: new Uint8Array(15) })), 'secret', /has a secret of 15 bytes; version 1 secrets are 16/)
    rejects(() => decodeTicket(craft({ secret: new Uint8Array(32) })), 'secret', /secret of 32 bytes/)
    const nine = Array.from({ length: MAX_TICKET_ADDRS + 1 }, (_, i) => multiaddr(`/ip4/10.0.0.${i}/tcp/1`).bytes)
    rejects(() => decodeTicket(craft({ addrs: nine })), 'too-many-addrs', /carries 9 addresses; at most 8/)
    rejects(() => decodeTicket(craft({ count: 1000, addrs: [] })), 'too-many-addrs', /carries 1000 addresses/)
    rejects(
      () => decodeTicket(craft({ addrs: [multiaddr(TCP).bytes, [0x99, 0x99, 0x03, 1, 2, 3]] })),
      'address',
      /address 2 of 2 is of an unknown or invalid address format: Protocol 52377 was unknown/,
    )
    rejects(() => decodeTicket(craft({ addrs: [[0x04, 1, 2]] })), 'address', /address 1 of 1 is of an unknown or invalid address format/)
    rejects(
      () => decodeTicket(craft({ addrs: [multiaddr('/tcp/4001').bytes] })),
      'address',
      /address 1 of 1 \(\/tcp\/4001\) is of an unknown address format \(tcp\): it must start with \/ip4, \/ip6, \/dns, \/dns4, \/dns6 or \/dnsaddr/,
    )
    rejects(
      () => decodeTicket(craft({ addrs: [multiaddr(`${TCP}/p2p/${other}`).bytes] })),
      'address',
      new RegExp(`address 1 of 1 \\(${TCP}/p2p/${other}\\) names another peer \\(${other}\\), not ${ed}`),
    )
    expect(decodeTicket(craft({ addrs: [multiaddr(`${TCP}/p2p/${ed}`).bytes] })).addrs).toEqual([TCP])
    rejects(() => decodeTicket(craft({ tail: [0] })), 'malformed', /is malformed: its fields do not fit its length/)
    rejects(() => decodeTicket(craft({ count: 2 })), 'malformed', /is malformed/)
    rejects(() => decodeTicket(craft({ expiresAt: 2 ** 53 })), 'malformed', /is malformed/)
  })

  it('refuses a ticket naming our own peer id', () => {
    const text = encodeTicket(ticket())
    rejects(() => decodeTicket(text, { selfPeerId: ed }), 'self', new RegExp(`names our own peer id ${ed}: a node cannot pair with itself`))
    expect(decodeTicket(text, { selfPeerId: other }).peerId).toBe(ed)
  })

  it('answers 400 for every problem, as an InvalidInputError on the field "ticket"', () => {
    const err = rejects(() => decodeTicket('sbp1aaaa'), 'truncated', /truncated/)
    expect(err).toBeInstanceOf(InvalidInputError)
    expect(err).toBeInstanceOf(InvalidRequestError)
    expect(err.field).toBe('ticket')
    expect(err.name).toBe('InvalidTicketError')
    expect(toRpcError(err)).toMatchObject({ code: 400, message: err.message })
  })

  it('refuses to write a ticket no reader would accept', () => {
    expect(() => encodeTicket(ticket({ peerId: 'nope' }))).toThrow(/"nope" is not a peer id/)
    expect(() => encodeTicket(ticket({ secret: new Uint8Array(8) }))).toThrow(/the secret must be 16 bytes/)
    expect(() => encodeTicket(ticket({ expiresAt: -1 }))).toThrow(/expiresAt -1 is not a unix time/)
    expect(() => encodeTicket(ticket({ expiresAt: 1.5 }))).toThrow(RangeError)
    expect(() => encodeTicket(ticket({ addrs: ['not an addr'] }))).toThrow(/is not a multiaddr/)
    expect(() => encodeTicket(ticket({ addrs: ['/tcp/1'] }))).toThrow(/unknown address format \(tcp\)/)
    expect(() => encodeTicket(ticket({ addrs: [`${TCP}/p2p/${other}`] }))).toThrow(/names another peer/)
    expect(() => encodeTicket(ticket({ addrs: [`/dns4/${'a'.repeat(260)}/tcp/1`] }))).toThrow(/over 255 bytes/)
    const nine = Array.from({ length: MAX_TICKET_ADDRS + 1 }, (_, i) => `/ip4/10.0.0.${i}/tcp/1`)
    expect(() => encodeTicket(ticket({ addrs: nine }))).toThrow(/9 addresses, at most 8/)
    expect(decodeTicket(encodeTicket(ticket({ addrs: nine.slice(0, 8) }))).addrs).toEqual(nine.slice(0, 8))
  })

  it('makes fresh 16-byte secrets and says when a ticket has expired', () => {
    const a = newSecret()
    const b = newSecret()
    expect(a).toBeInstanceOf(Uint8Array)
    expect(a.length).toBe(16)
    expect(a).not.toEqual(b)
    expect(isExpired({ expiresAt: 1000 }, 999)).toBe(false)
    expect(isExpired({ expiresAt: 1000 }, 1000)).toBe(true)
    expect(isExpired({ expiresAt: Date.now() + 60_000 })).toBe(false)
    expect(isExpired({ expiresAt: Date.now() - 1 })).toBe(true)
  })
})

describe('pairing QR codes', () => {
  const viewBox = (svg: string) => Number(/viewBox="0 0 (\d+) \1"/.exec(svg)?.[1])

  it('is a well-formed square SVG, different for different texts', async () => {
    const t1 = encodeTicket(ticket())
    const t2 = encodeTicket(ticket({ secret: newSecret() }))
    const svgs = await Promise.all([qrSvg(t1), qrSvg(t2), qrSvg('hello')])
    for (const svg of svgs) {
      const text = svg.trim()
      expect(text).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" viewBox="0 0 \d+ \d+"[^>]*>/)
      expect(text.endsWith('</svg>')).toBe(true)
      // only self-closing <path .../> elements inside
      expect(text.replace(/^<svg[^>]*>/, '').replace(/<\/svg>$/, '')).toMatch(/^(<path [^<>]*\/>)+$/)
      expect(viewBox(text)).toBeGreaterThan(21)
    }
    expect(new Set(svgs).size).toBe(3)
    expect(await qrSvg(t1)).toBe(svgs[0])
  })

  it('encodes a ticket upper case (QR alphanumeric mode): 53 modules square where lower case needs 61', async () => {
    const text = encodeTicket(ticket())
    expect(viewBox(await qrSvg(text))).toBe(53 + 8)
    expect(viewBox(await qrSvg(text))).toBe(viewBox(await QRCode.toString(text.toUpperCase(), { type: 'svg', errorCorrectionLevel: 'M' })))
    expect(viewBox(await QRCode.toString(text, { type: 'svg', errorCorrectionLevel: 'M' }))).toBe(61 + 8)
  })
})
