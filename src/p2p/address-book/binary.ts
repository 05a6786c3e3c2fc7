/**
 * The address book's compact on-disk form (format `switchboard.addressbook`, version 2): a small
 * header, then the entries column by column (one column per field, so alike values sit together),
 * deflated. Loading it needs no multiaddr parsing: each entry carries its canonical key, network
 * group and scope, so 100k entries load in well under 200 ms (bench/address-book.ts).
 *
 *   offset  size  field
 *   0       4     magic "SWAB"
 *   4       1     n = length of the format name
 *   5       n     format name, ASCII: "switchboard.addressbook"
 *   5+n     2     version (u16 LE) = 2
 *   7+n     4     entry count (u32 LE)
 *   11+n    8     savedAt (f64 LE)
 *   19+n    4     raw body length (u32 LE)
 *   23+n    4     deflated body length (u32 LE): the bytes after the header, exactly
 *   27+n    32    SHA-256 of everything before it and of the deflated body
 *   59+n    ...   deflated body
 *
 * The body is a string table of network groups, one of peer ids, then the columns (see COLUMNS).
 * Times are integers of milliseconds stored as deltas (an entry whose times are not safe integers
 * keeps them as f64 in a column of their own). Version 1 is the JSON envelope of json-file.ts,
 * still read once to migrate (persistence.ts).
 */
import { isAscii } from 'node:buffer'
import { createHash } from 'node:crypto'
import { promisify } from 'node:util'
import { deflateRaw, inflateRawSync } from 'node:zlib'
import type { AddressScope } from '../address-group.ts'
import { CorruptFileError } from '../atomic-file.ts'
import { ADDRESS_SOURCES, type AddressSource, Entry, type EntryRecord, type Group, detachedGroup } from './entry.ts'

export const BINARY_MAGIC = Buffer.from('SWAB', 'latin1')
export const BINARY_VERSION = 2

/** The scopes an entry can have in the book (unspecified and reserved addresses are never stored). */
export const STORED_SCOPES: readonly AddressScope[] = ['public', 'private', 'linkLocal', 'loopback']

/** One entry as the writer sees it: the book's Entry shape. */
export interface WritableEntry extends EntryRecord {
  group: { key: string }
  scope: AddressScope
  /** True when the peer id is known to be the key's `/p2p/<id>` suffix (Entry.peerInKey): no need to read it. */
  readonly peerInKey?: boolean
}

const deflateRawAsync = promisify(deflateRaw)

const F_PEER = 1
const F_SUFFIX = 2
const F_ATTEMPT = 4
const F_SUCCESS = 8
const F_FLOAT = 16

/** Column order in the body; each column is a length-prefixed run of bytes. `addr` holds the keys; `peer` indexes
 * the peer table for entries whose key does not end in their `/p2p/<id>` (bare addresses never have one). */
const COLUMNS = [
  'flags',
  'sourceScope',
  'group',
  'peer',
  'addr',
  'first',
  'seen',
  'attempt',
  'success',
  'counts',
  'failures',
  'floats',
] as const
type Column = (typeof COLUMNS)[number]

class Writer {
  buf = Buffer.allocUnsafe(1024)
  len = 0
  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n))
    this.buf.copy(next, 0, 0, this.len)
    this.buf = next
  }
  u8(v: number): void {
    this.ensure(1)
    this.buf[this.len++] = v
  }
  /** Unsigned varint of a non-negative safe integer. */
  uv(v: number): void {
    this.ensure(8)
    while (v >= 0x80) {
      this.buf[this.len++] = (v % 0x80) | 0x80
      v = Math.floor(v / 0x80)
    }
    this.buf[this.len++] = v
  }
  /** Signed (zigzag) varint of a safe integer. */
  sv(v: number): void {
    this.uv(v < 0 ? -2 * v - 1 : 2 * v)
  }
  f64(v: number): void {
    this.ensure(8)
    this.buf.writeDoubleLE(v, this.len)
    this.len += 8
  }
  str(s: string): void {
    const max = s.length * 3
    this.ensure(max + 5)
    // the length is not known before encoding: reserve the varint for the worst case when it is long
    if (max < 0x80) {
      const at = this.len++
      const n = this.buf.write(s, this.len, 'utf8')
      this.buf[at] = n
      this.len += n
    } else {
      const n = Buffer.byteLength(s)
      this.uv(n)
      this.len += this.buf.write(s, this.len, 'utf8')
    }
  }
  bytes(): Buffer {
    return this.buf.subarray(0, this.len)
  }
}

class Reader {
  pos: number
  constructor(
    private readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start
  }
  private need(n: number): void {
    if (this.pos + n > this.end) throw new Error('body ends early')
  }
  u8(): number {
    if (this.pos >= this.end) throw new Error('body ends early')
    return this.buf[this.pos++] as number
  }
  /** Unsigned varint; the common one-byte case costs one bounds check and no call (a load reads ~10 per entry). */
  uv(): number {
    const buf = this.buf
    let pos = this.pos
    if (pos >= this.end) throw new Error('body ends early')
    let b = buf[pos++] as number
    if (b < 0x80) {
      this.pos = pos
      return b
    }
    let v = b & 0x7f
    let mul = 0x80
    for (;;) {
      if (pos >= this.end) throw new Error('body ends early')
      b = buf[pos++] as number
      v += (b & 0x7f) * mul
      if (b < 0x80) {
        this.pos = pos
        return v
      }
      mul *= 0x80
      if (mul > 2 ** 56) throw new Error('varint too long')
    }
  }
  sv(): number {
    const u = this.uv()
    return u % 2 === 1 ? -(u + 1) / 2 : u / 2
  }
  f64(): number {
    this.need(8)
    const v = this.buf.readDoubleLE(this.pos)
    this.pos += 8
    return v
  }
  str(): string {
    const n = this.uv()
    this.need(n)
    const s = this.buf.toString('utf8', this.pos, this.pos + n)
    this.pos += n
    return s
  }
  /**
   * A reader of this column's strings that slices them out of one string decoded up front, when the
   * column is ASCII (byte offsets are then character offsets): one decode instead of one per string,
   * and each string a slice of it. Multiaddr keys are ASCII but for unusual DNS names.
   */
  strings(): () => string {
    const bytes = this.buf.subarray(this.pos, this.end)
    if (!isAscii(bytes)) return () => this.str()
    const text = bytes.toString('latin1')
    const base = this.pos
    return () => {
      const n = this.uv()
      this.need(n)
      const from = this.pos - base
      this.pos += n
      return text.slice(from, from + n)
    }
  }
}

const isTime = (t: number | undefined) => t === undefined || Number.isSafeInteger(t)

function headerOf(count: number, savedAt: number, rawLength: number, deflatedLength: number, format: string): Buffer {
  const name = Buffer.from(format, 'latin1')
  const h = Buffer.alloc(4 + 1 + name.length + 2 + 4 + 8 + 4 + 4)
  let o = BINARY_MAGIC.copy(h, 0)
  h[o++] = name.length
  o += name.copy(h, o)
  o = h.writeUInt16LE(BINARY_VERSION, o)
  o = h.writeUInt32LE(count, o)
  o = h.writeDoubleLE(savedAt, o)
  o = h.writeUInt32LE(rawLength, o)
  h.writeUInt32LE(deflatedLength, o)
  return h
}

/** The raw (not yet deflated) body of `entries`. */
export function encodeBody(entries: Iterable<WritableEntry>): { body: Buffer; count: number } {
  const col = Object.fromEntries(COLUMNS.map((c) => [c, new Writer()])) as Record<Column, Writer>
  const groups = new Map<string, number>()
  const peers = new Map<string, number>()
  const groupTable = new Writer()
  const peerTable = new Writer()
  let count = 0
  let prevFirst = 0
  for (const e of entries) {
    count++
    let g = groups.get(e.group.key)
    if (g === undefined) {
      g = groups.size
      groups.set(e.group.key, g)
      groupTable.str(e.group.key)
    }
    let flags = 0
    if (e.peerInKey) flags |= F_PEER | F_SUFFIX
    else if (e.peerId !== undefined) {
      flags |= F_PEER
      if (e.multiaddr.endsWith(e.peerId) && e.multiaddr.endsWith(`/p2p/${e.peerId}`)) flags |= F_SUFFIX
    }
    if (e.lastAttempt !== undefined) flags |= F_ATTEMPT
    if (e.lastSuccess !== undefined) flags |= F_SUCCESS
    const float =
      !Number.isSafeInteger(e.firstSeen) ||
      !Number.isSafeInteger(e.lastSeen) ||
      !isTime(e.lastAttempt) ||
      !isTime(e.lastSuccess) ||
      !e.failureTimes.every((t) => Number.isSafeInteger(t))
    if (float) flags |= F_FLOAT
    col.flags.u8(flags)
    col.sourceScope.u8(ADDRESS_SOURCES.indexOf(e.source) | (STORED_SCOPES.indexOf(e.scope) << 4))
    col.group.uv(g)
    // the peer id of a key ending in /p2p/<id> is read back from the key itself (a slice: no second copy in the heap)
    if (flags & F_PEER && !(flags & F_SUFFIX)) {
      const peerId = e.peerId as string
      let p = peers.get(peerId)
      if (p === undefined) {
        p = peers.size
        peers.set(peerId, p)
        peerTable.str(peerId)
      }
      col.peer.uv(p)
    }
    col.addr.str(e.multiaddr)
    col.counts.uv(e.attempts)
    col.counts.uv(e.successes)
    col.counts.uv(e.failures)
    col.counts.uv(e.consecutiveFailures)
    col.failures.uv(e.failureTimes.length)
    if (float) {
      col.floats.f64(e.firstSeen)
      col.floats.f64(e.lastSeen)
      if (e.lastAttempt !== undefined) col.floats.f64(e.lastAttempt)
      if (e.lastSuccess !== undefined) col.floats.f64(e.lastSuccess)
      for (const t of e.failureTimes) col.floats.f64(t)
      continue
    }
    col.first.sv(e.firstSeen - prevFirst)
    prevFirst = e.firstSeen
    col.seen.sv(e.lastSeen - e.firstSeen)
    if (e.lastAttempt !== undefined) col.attempt.sv(e.lastAttempt - e.firstSeen)
    if (e.lastSuccess !== undefined) col.success.sv(e.lastSuccess - e.firstSeen)
    let prev = e.firstSeen
    for (const t of e.failureTimes) {
      col.failures.sv(t - prev)
      prev = t
    }
  }
  const parts: Buffer[] = []
  const lengths = new Writer()
  lengths.uv(groups.size)
  lengths.uv(peers.size)
  for (const w of [groupTable, peerTable, ...COLUMNS.map((c) => col[c])]) {
    lengths.uv(w.len)
    parts.push(w.bytes())
  }
  return { body: Buffer.concat([lengths.bytes(), ...parts]), count }
}

/** The whole file for `entries` (deflated off the main thread). */
export async function encodeBook(entries: Iterable<WritableEntry>, savedAt: number, format: string): Promise<Buffer> {
  const { body, count } = encodeBody(entries)
  const deflated = await deflateRawAsync(body, { level: 6 })
  const header = headerOf(count, savedAt, body.length, deflated.length, format)
  const digest = createHash('sha256').update(header).update(deflated).digest()
  return Buffer.concat([header, digest, deflated])
}

/** True when `bytes` start like a binary address book (anything else is read as the JSON of version 1). */
export const isBinaryBook = (bytes: Buffer) => bytes.length >= 4 && bytes.subarray(0, 4).equals(BINARY_MAGIC)

/**
 * The entries of a binary book file, as Entry objects not yet in any book: each points at a detached
 * group (see detachedGroup) and carries its key, scope and counters as saved (times not yet clamped).
 * Throws CorruptFileError naming `path` and the problem: another format, an unsupported version, a
 * truncated file, a checksum mismatch, a body that does not decode.
 */
export function decodeBook(bytes: Buffer, path: string, format: string): { savedAt: number; entries: Entry[] } {
  const corrupt = (why: string) => new CorruptFileError(path, why)
  if (!isBinaryBook(bytes)) throw corrupt('not a binary address book (bad magic)')
  const n = bytes[4] ?? 0
  const fixed = 5 + n + 2 + 4 + 8 + 4 + 4
  if (bytes.length < fixed + 32) throw corrupt(`truncated: ${bytes.length} bytes, shorter than its header`)
  const name = bytes.toString('latin1', 5, 5 + n)
  if (name !== format) throw corrupt(`format is ${JSON.stringify(name)}, expected ${JSON.stringify(format)}`)
  let o = 5 + n
  const version = bytes.readUInt16LE(o)
  if (version !== BINARY_VERSION) throw corrupt(`version ${version} is not supported (expected ${BINARY_VERSION})`)
  o += 2
  const count = bytes.readUInt32LE(o)
  const savedAt = bytes.readDoubleLE(o + 4)
  const rawLength = bytes.readUInt32LE(o + 12)
  const deflatedLength = bytes.readUInt32LE(o + 16)
  const bodyAt = fixed + 32
  if (bytes.length !== bodyAt + deflatedLength)
    throw corrupt(
      bytes.length < bodyAt + deflatedLength
        ? `truncated: ${bytes.length} bytes of ${bodyAt + deflatedLength}`
        : `${bytes.length - bodyAt - deflatedLength} bytes after the end of the book`,
    )
  const digest = createHash('sha256').update(bytes.subarray(0, fixed)).update(bytes.subarray(bodyAt)).digest()
  if (!digest.equals(bytes.subarray(fixed, bodyAt))) throw corrupt('checksum mismatch')
  let body: Buffer
  try {
    // one output chunk of the announced size (plus a byte, so that zlib sees room left and stops): no
    // 16 KiB chunks to concatenate. Bounded by deflate's largest ratio (1032:1) whatever the header says.
    const chunkSize = Math.max(64, Math.min(rawLength, deflatedLength * 1032 + 1024) + 1)
    body = inflateRawSync(bytes.subarray(bodyAt), { maxOutputLength: Math.max(rawLength, 1), chunkSize })
  } catch (err) {
    throw corrupt(`body does not inflate (${(err as Error).message})`)
  }
  if (body.length !== rawLength) throw corrupt(`body is ${body.length} bytes, header says ${rawLength}`)
  try {
    return { savedAt, entries: decodeBody(body, count) }
  } catch (err) {
    throw corrupt(`body does not decode (${(err as Error).message})`)
  }
}

function decodeBody(body: Buffer, count: number): Entry[] {
  const head = new Reader(body, 0, body.length)
  const groupCount = head.uv()
  const peerCount = head.uv()
  const lengths: number[] = []
  for (let i = 0; i < COLUMNS.length + 2; i++) lengths.push(head.uv())
  const readers: Reader[] = []
  let at = head.pos
  for (const len of lengths) {
    if (at + len > body.length) throw new Error('a column runs past the body')
    readers.push(new Reader(body, at, at + len))
    at += len
  }
  if (at !== body.length) throw new Error('bytes after the last column')
  const [groupR, peerR, ...cols] = readers as [Reader, Reader, ...Reader[]]
  const c = Object.fromEntries(COLUMNS.map((name, i) => [name, cols[i] as Reader])) as Record<Column, Reader>
  const groups: Group[] = []
  for (let i = 0; i < groupCount; i++) groups.push(detachedGroup(groupR.str()))
  const peers: string[] = []
  for (let i = 0; i < peerCount; i++) peers.push(peerR.str())
  if (count > body.length) throw new Error(`${count} entries cannot fit in ${body.length} bytes`)
  const entries: Entry[] = new Array(count)
  const nextKey = c.addr.strings()
  const { flags: flagsR, sourceScope, group: groupIx, peer: peerIx, counts, failures, floats, first, seen, attempt, success } = c
  let prevFirst = 0
  // each failure history is copied out of this one array (Array.prototype.slice): an array literal in the
  // loop is an allocation site that V8 decides to pretenure mid-load, which throws away the loop's optimized code
  const scratch: number[] = [0.5]
  for (let i = 0; i < count; i++) {
    const flags = flagsR.u8()
    const ss = sourceScope.u8()
    const source = ADDRESS_SOURCES[ss & 0x0f] as AddressSource | undefined
    const scope = STORED_SCOPES[ss >> 4]
    if (source === undefined || scope === undefined) throw new Error(`entry ${i}: unknown source or scope ${ss}`)
    const group = groups[groupIx.uv()]
    if (group === undefined) throw new Error(`entry ${i}: group index out of range`)
    const key = nextKey()
    const attempts = counts.uv()
    const successes = counts.uv()
    const nFailed = counts.uv()
    const consecutive = counts.uv()
    const nFailures = failures.uv()
    const float = (flags & F_FLOAT) !== 0
    // the times first, so that the entry is built with them (no second store into its boxed doubles)
    const firstSeen = float ? floats.f64() : prevFirst + first.sv()
    const e = new Entry(key, source, group, scope, firstSeen, float ? floats.f64() : firstSeen + seen.sv())
    if (flags & F_SUFFIX) {
      if (!key.includes('/p2p/')) throw new Error(`entry ${i}: key has no /p2p/ suffix`) // (a forward search stops early)
      e.peerFromKey() // sliced out when first read
    } else if (flags & F_PEER) {
      const peerId = peers[peerIx.uv()]
      if (peerId === undefined) throw new Error(`entry ${i}: peer index out of range`)
      e.peerId = peerId
    }
    e.attempts = attempts
    e.successes = successes
    e.failures = nFailed
    e.consecutiveFailures = consecutive
    if (float) {
      if (flags & F_ATTEMPT) e.lastAttempt = floats.f64()
      if (flags & F_SUCCESS) e.lastSuccess = floats.f64()
      if (nFailures > 0) {
        for (let k = 0; k < nFailures; k++) scratch[k] = floats.f64()
        e.failureTimes = scratch.slice(0, nFailures)
      }
    } else {
      prevFirst = firstSeen
      if (flags & F_ATTEMPT) e.lastAttempt = firstSeen + attempt.sv()
      if (flags & F_SUCCESS) e.lastSuccess = firstSeen + success.sv()
      if (nFailures > 0) {
        let prev = firstSeen
        for (let k = 0; k < nFailures; k++) {
          prev += failures.sv()
          scratch[k] = prev
        }
        e.failureTimes = scratch.slice(0, nFailures)
      }
    }
    entries[i] = e
  }
  for (const r of [groupR, peerR, ...cols]) if (r.pos !== r.end) throw new Error('a column has bytes left over')
  return entries
}
