/**
 * The address book's compact on-disk form (format `switchboard.addressbook`, version 3): a small
 * header, then the entries column by column (one column per field, so alike values sit together),
 * deflated, then the last 32 bytes of each key's peer id, as they are. Loading it needs no multiaddr
 * parsing: each entry carries its canonical key, network group and scope. It decodes into columns
 * (columns.ts), not objects, and hashes each key on the way for the book's index (loaded-slots.ts).
 * Peer ids are kept as bytes, not base58 text: inflating 100k ids' random base58 characters took a
 * third of a load (bench/profiles/README.md), their bytes need no inflating at all.
 *
 *   offset  size  field
 *   0       4     magic "SWAB"
 *   4       1     n = length of the format name
 *   5       n     format name, ASCII: "switchboard.addressbook"
 *   5+n     2     version (u16 LE) = 3
 *   7+n     4     entry count (u32 LE)
 *   11+n    8     savedAt (f64 LE)
 *   19+n    4     raw body length (u32 LE)
 *   23+n    4     deflated body length (u32 LE)
 *   27+n    4     tails length (u32 LE): 32 k, for k keys whose peer id is kept as bytes
 *   31+n    32    SHA-256 of everything before it and of everything after it
 *   63+n    ...   deflated body
 *   ...     32 k  the last 32 bytes of each such peer id, in entry order: the file's last bytes
 *
 * The body is a string table of network groups, one of peer ids, then the columns (see COLUMNS).
 * A key ending in `/p2p/<id>` whose id is base58 of 32 bytes or more is stored as its text up to the
 * id, then the id's head (its bytes before the last 32, length-prefixed) in the `addr` column
 * (columns.ts idKeyOf: the form depends on the key's text alone). Times are integers of milliseconds
 * stored as deltas (an entry whose times are not safe integers keeps them as f64 in a column of their
 * own). Version 2 is the same without the ids as bytes, read as objects and saved as version 3 next
 * time; version 1 is the JSON envelope of json-file.ts, still read once to migrate (persistence.ts).
 */
import { createHash } from 'node:crypto'
import { promisify } from 'node:util'
import { deflateRaw, inflateRawSync } from 'node:zlib'
import { CorruptFileError } from '../atomic-file.ts'
import {
  BIG_COUNT,
  BookColumns,
  F_ATTEMPT,
  F_FLOAT,
  F_IDBYTES,
  F_PEER,
  F_SUCCESS,
  F_SUFFIX,
  hashForward,
  ID_TAIL,
  idKeyOf,
  type KeyParts,
  peerIdBytes,
  SlotCursor,
  STORED_SCOPES,
} from './columns.ts'
import { ADDRESS_SOURCES, FAILURE_HISTORY, type WritableEntry } from './entry.ts'

export const BINARY_MAGIC = Buffer.from('SWAB', 'latin1')
export const BINARY_VERSION = 3
/** Version 2 keys hold their peer ids as text (no tails): still read, into objects. */
const TEXT_ID_VERSION = 2

const deflateRawAsync = promisify(deflateRaw)

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
  raw(b: Uint8Array, from: number, to: number): void {
    this.ensure(to - from)
    this.buf.set(b.subarray(from, to), this.len)
    this.len += to - from
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
  /** Skip n bytes; they are buf[returned .. pos). */
  skip(n: number): number {
    this.need(n)
    const from = this.pos
    this.pos += n
    return from
  }
  /** Skip the next string; its bytes are buf[returned .. pos). */
  skipStr(): number {
    const n = this.uv()
    this.need(n)
    const from = this.pos
    this.pos += n
    return from
  }
}

/** The key as the file keeps it, from its text (a loaded slot not yet made gives its own: SlotCursor.keyParts). */
function keyPartsOf(key: string): KeyParts {
  const idKey = idKeyOf(key)
  return idKey === undefined ? { prefix: key, id: undefined } : { prefix: key.slice(0, idKey.prefixLength), id: idKey.id }
}

const isTime = (t: number | undefined) => t === undefined || Number.isSafeInteger(t)

function allSafeIntegers(times: ArrayLike<number>): boolean {
  for (let i = 0; i < times.length; i++) if (!Number.isSafeInteger(times[i])) return false
  return true
}

function headerOf(count: number, savedAt: number, rawLength: number, deflatedLength: number, tailsLength: number, format: string): Buffer {
  const name = Buffer.from(format, 'latin1')
  const h = Buffer.alloc(4 + 1 + name.length + 2 + 4 + 8 + 4 + 4 + 4)
  let o = BINARY_MAGIC.copy(h, 0)
  h[o++] = name.length
  o += name.copy(h, o)
  o = h.writeUInt16LE(BINARY_VERSION, o)
  o = h.writeUInt32LE(count, o)
  o = h.writeDoubleLE(savedAt, o)
  o = h.writeUInt32LE(rawLength, o)
  o = h.writeUInt32LE(deflatedLength, o)
  h.writeUInt32LE(tailsLength, o)
  return h
}

/** The raw (not yet deflated) body of `entries`, and the ids' tails that follow it undeflated. */
export function encodeBody(entries: Iterable<WritableEntry>): { body: Buffer; tails: Buffer; count: number } {
  const col = Object.fromEntries(COLUMNS.map((c) => [c, new Writer()])) as Record<Column, Writer>
  const groups = new Map<string, number>()
  const peers = new Map<string, number>()
  const groupTable = new Writer()
  const peerTable = new Writer()
  const tails = new Writer()
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
    const key: KeyParts = e instanceof SlotCursor ? e.keyParts() : keyPartsOf(e.multiaddr)
    if (key.id !== undefined) flags |= F_IDBYTES
    const float =
      !Number.isSafeInteger(e.firstSeen) ||
      !Number.isSafeInteger(e.lastSeen) ||
      !isTime(e.lastAttempt) ||
      !isTime(e.lastSuccess) ||
      !allSafeIntegers(e.failureTimes)
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
    col.addr.str(key.prefix)
    if (key.id !== undefined) {
      const head = key.id.length - ID_TAIL
      col.addr.u8(head)
      col.addr.raw(key.id, 0, head)
      tails.raw(key.id, head, key.id.length)
    }
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
      for (let k = 0; k < e.failureTimes.length; k++) col.floats.f64(e.failureTimes[k] as number)
      continue
    }
    col.first.sv(e.firstSeen - prevFirst)
    prevFirst = e.firstSeen
    col.seen.sv(e.lastSeen - e.firstSeen)
    if (e.lastAttempt !== undefined) col.attempt.sv(e.lastAttempt - e.firstSeen)
    if (e.lastSuccess !== undefined) col.success.sv(e.lastSuccess - e.firstSeen)
    let prev = e.firstSeen
    for (let k = 0; k < e.failureTimes.length; k++) {
      const t = e.failureTimes[k] as number
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
  return { body: Buffer.concat([lengths.bytes(), ...parts]), tails: tails.bytes(), count }
}

/** The whole file for `entries` (deflated off the main thread). */
export async function encodeBook(entries: Iterable<WritableEntry>, savedAt: number, format: string): Promise<Buffer> {
  const { body, tails, count } = encodeBody(entries)
  const deflated = await deflateRawAsync(body, { level: 6 })
  const header = headerOf(count, savedAt, body.length, deflated.length, tails.length, format)
  const digest = createHash('sha256').update(header).update(deflated).update(tails).digest()
  return Buffer.concat([header, digest, deflated, tails])
}

/** True when `bytes` start like a binary address book (anything else is read as the JSON of version 1). */
export const isBinaryBook = (bytes: Buffer) => bytes.length >= 4 && bytes.subarray(0, 4).equals(BINARY_MAGIC)

/**
 * The entries of a binary book file, as columns (columns.ts: no object per entry) with their keys,
 * scopes and counters as saved (times not yet clamped). Throws CorruptFileError naming `path` and the
 * problem: another format, an unsupported version, a truncated file, a checksum mismatch, a body that
 * does not decode.
 */
export function decodeBook(bytes: Buffer, path: string, format: string): { savedAt: number; columns: BookColumns } {
  const corrupt = (why: string) => new CorruptFileError(path, why)
  if (!isBinaryBook(bytes)) throw corrupt('not a binary address book (bad magic)')
  const n = bytes[4] ?? 0
  const short = () => corrupt(`truncated: ${bytes.length} bytes, shorter than its header`)
  if (bytes.length < 5 + n + 2) throw short()
  const name = bytes.toString('latin1', 5, 5 + n)
  if (name !== format) throw corrupt(`format is ${JSON.stringify(name)}, expected ${JSON.stringify(format)}`)
  let o = 5 + n
  const version = bytes.readUInt16LE(o)
  if (version !== BINARY_VERSION && version !== TEXT_ID_VERSION)
    throw corrupt(`version ${version} is not supported (expected ${BINARY_VERSION} or ${TEXT_ID_VERSION})`)
  // version 2 has no tails, nor their length
  const fixed = 5 + n + 2 + 4 + 8 + 4 + 4 + (version === TEXT_ID_VERSION ? 0 : 4)
  if (bytes.length < fixed + 32) throw short()
  o += 2
  const count = bytes.readUInt32LE(o)
  const savedAt = bytes.readDoubleLE(o + 4)
  const rawLength = bytes.readUInt32LE(o + 12)
  const deflatedLength = bytes.readUInt32LE(o + 16)
  const tailsLength = version === TEXT_ID_VERSION ? 0 : bytes.readUInt32LE(o + 20)
  const bodyAt = fixed + 32
  const tailsAt = bodyAt + deflatedLength
  const end = tailsAt + tailsLength
  if (bytes.length !== end)
    throw corrupt(
      bytes.length < end ? `truncated: ${bytes.length} bytes of ${end}` : `${bytes.length - end} bytes after the end of the book`,
    )
  const digest = createHash('sha256').update(bytes.subarray(0, fixed)).update(bytes.subarray(bodyAt)).digest()
  if (!digest.equals(bytes.subarray(fixed, bodyAt))) throw corrupt('checksum mismatch')
  let body: Buffer
  try {
    // one output chunk of the announced size (plus a byte, so that zlib sees room left and stops): no
    // 16 KiB chunks to concatenate. Bounded by deflate's largest ratio (1032:1) whatever the header says.
    const chunkSize = Math.max(64, Math.min(rawLength, deflatedLength * 1032 + 1024) + 1)
    body = inflateRawSync(bytes.subarray(bodyAt, tailsAt), { maxOutputLength: Math.max(rawLength, 1), chunkSize })
  } catch (err) {
    throw corrupt(`body does not inflate (${(err as Error).message})`)
  }
  if (body.length !== rawLength) throw corrupt(`body is ${body.length} bytes, header says ${rawLength}`)
  try {
    return { savedAt, columns: decodeBody(body, count, version, bytes.subarray(tailsAt)) }
  } catch (err) {
    throw corrupt(`body does not decode (${(err as Error).message})`)
  }
}

const SLASH = 47
const P = 112
const TWO = 50

const KNOWN_FLAGS = F_PEER | F_SUFFIX | F_ATTEMPT | F_SUCCESS | F_FLOAT | F_IDBYTES

function decodeBody(body: Buffer, count: number, version: number, tails: Buffer): BookColumns {
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
  const groupKeys: string[] = []
  for (let i = 0; i < groupCount; i++) groupKeys.push(groupR.str())
  if (new Set(groupKeys).size !== groupKeys.length) throw new Error('the group table repeats a group')
  const peers: string[] = []
  for (let i = 0; i < peerCount; i++) peers.push(peerR.str())
  if (count > body.length) throw new Error(`${count} entries cannot fit in ${body.length} bytes`)
  const {
    flags: flagsR,
    sourceScope: sourceScopeR,
    group: groupIx,
    peer: peerIx,
    addr,
    counts: countsR,
    failures,
    floats,
    first: firstDelta,
    seen,
    attempt,
    success,
  } = c
  // every extra time takes at least one byte of its column (or 8 of the floats)
  const extraRoom =
    failures.end - failures.pos + attempt.end - attempt.pos + success.end - success.pos + Math.floor((floats.end - floats.pos) / 8)
  if (tails.length % ID_TAIL !== 0) throw new Error(`${tails.length} bytes of peer ids, not a multiple of ${ID_TAIL}`)
  const out = new BookColumns(count, body, groupKeys, peers, extraRoom, tails)
  const {
    firstSeen,
    lastSeen,
    extraFrom,
    extra,
    counts,
    bigCounts,
    flags: flagsC,
    sourceScope,
    group,
    peer,
    keyStart,
    keyLength,
    keyHashes,
    peerLength,
    idTail,
  } = out
  const idsAsBytes = version === BINARY_VERSION
  let prevFirst = 0
  let x = 0
  let t = 0 // ids' tails read
  let bits = 0 // of every key byte: bit 7 set when a key is not ASCII
  for (let i = 0; i < count; i++) {
    const flags = flagsR.u8()
    if (flags & ~KNOWN_FLAGS || (flags & F_IDBYTES && !idsAsBytes)) throw new Error(`entry ${i}: unknown flags ${flags}`)
    const ss = sourceScopeR.u8()
    if (ADDRESS_SOURCES[ss & 0x0f] === undefined || STORED_SCOPES[ss >> 4] === undefined)
      throw new Error(`entry ${i}: unknown source or scope ${ss}`)
    flagsC[i] = flags
    sourceScope[i] = ss
    const g = groupIx.uv()
    if (g >= groupCount) throw new Error(`entry ${i}: group index out of range`)
    group[i] = g
    const from = addr.skipStr()
    const to = addr.pos
    if (to - from > 0xffff) throw new Error(`entry ${i}: a key of ${to - from} bytes`)
    keyStart[i] = from
    keyLength[i] = to - from
    // the key's hash (columns.ts keyHash: the id's bytes first, then the text last byte first) and where its last `/p2p/` ends
    let h = 0x811c9dc5
    if (flags & F_IDBYTES) {
      const head = addr.u8()
      const headAt = addr.skip(head)
      if ((t + 1) * ID_TAIL > tails.length) throw new Error(`entry ${i}: more peer ids than the file holds`)
      idTail[i] = t
      h = hashForward(tails, t * ID_TAIL, (t + 1) * ID_TAIL, hashForward(body, headAt, headAt + head))
      t++
    }
    let peerAt = -1
    if (flags & F_IDBYTES) {
      // the prefix ends in /p2p/: no search
      if (
        to - from < 5 ||
        body[to - 5] !== SLASH ||
        body[to - 4] !== P ||
        body[to - 3] !== TWO ||
        body[to - 2] !== P ||
        body[to - 1] !== SLASH
      )
        throw new Error(`entry ${i}: a peer id kept as bytes after a key that does not end in /p2p/`)
      for (let k = to - 1; k >= from; k--) {
        const b = body[k] as number
        h = Math.imul(h ^ b, 0x01000193)
        bits |= b
      }
      peerAt = to
    } else {
      for (let k = to - 1; k >= from; k--) {
        const b = body[k] as number
        h = Math.imul(h ^ b, 0x01000193)
        bits |= b
        if (
          b === SLASH &&
          peerAt < 0 &&
          k + 4 < to &&
          body[k + 1] === P &&
          body[k + 2] === TWO &&
          body[k + 3] === P &&
          body[k + 4] === SLASH
        )
          peerAt = k + 5
      }
    }
    keyHashes[i] = h >>> 0
    // a lookup by this key would hash its id's bytes (columns.ts idKeyOf), so the file must hold them so
    if (idsAsBytes && !(flags & F_IDBYTES) && peerAt >= 0 && peerIdBytes(body.toString('latin1', peerAt, to)) !== undefined)
      throw new Error(`entry ${i}: a peer id kept as text that the format keeps as bytes`)
    if ((flags & (F_SUFFIX | F_IDBYTES)) === F_SUFFIX) {
      // the peer id is the key's text after its last /p2p/ (an id kept as bytes needs no length)
      if (peerAt < 0 || peerAt === to) throw new Error(`entry ${i}: key has no /p2p/ suffix`)
      if (to - peerAt > 0xff) throw new Error(`entry ${i}: a peer id of ${to - peerAt} bytes`)
      peerLength[i] = to - peerAt
    } else if (!(flags & F_SUFFIX) && flags & F_PEER) {
      const p = peerIx.uv()
      if (p >= peerCount) throw new Error(`entry ${i}: peer index out of range`)
      peer[i] = p + 1
    }
    // the counts' invariants restored as entry.ts settle() does: attempts >= successes + failures, consecutive <= failures
    const a = countsR.uv()
    const sc = countsR.uv()
    const f = countsR.uv()
    const cf = countsR.uv()
    const attempts = Math.max(a, sc + f)
    const consecutive = Math.min(cf, f)
    const k = i * 4
    if (attempts < BIG_COUNT && sc < BIG_COUNT && f < BIG_COUNT && consecutive < BIG_COUNT) {
      counts[k] = attempts
      counts[k + 1] = sc
      counts[k + 2] = f
      counts[k + 3] = consecutive
    } else {
      counts[k] = BIG_COUNT
      bigCounts.set(i, [attempts, sc, f, consecutive])
    }
    const nFailures = failures.uv()
    if (x + (flags & F_ATTEMPT ? 1 : 0) + (flags & F_SUCCESS ? 1 : 0) + nFailures > extra.length)
      throw new Error(`entry ${i}: more times than the columns hold`)
    extraFrom[i] = x
    if (flags & F_FLOAT) {
      firstSeen[i] = floats.f64()
      lastSeen[i] = floats.f64()
      if (flags & F_ATTEMPT) extra[x++] = floats.f64()
      if (flags & F_SUCCESS) extra[x++] = floats.f64()
      for (let n = 0; n < nFailures; n++) extra[x++] = floats.f64()
    } else {
      const first = prevFirst + firstDelta.sv()
      prevFirst = first
      firstSeen[i] = first
      lastSeen[i] = first + seen.sv()
      if (flags & F_ATTEMPT) extra[x++] = first + attempt.sv()
      if (flags & F_SUCCESS) extra[x++] = first + success.sv()
      let prev = first
      for (let n = 0; n < nFailures; n++) {
        prev += failures.sv()
        extra[x++] = prev
      }
    }
    if (nFailures > FAILURE_HISTORY) {
      // only the most recent are kept
      extra.copyWithin(x - nFailures, x - FAILURE_HISTORY, x)
      x -= nFailures - FAILURE_HISTORY
    }
  }
  extraFrom[count] = x
  if (t * ID_TAIL !== tails.length) throw new Error(`${tails.length / ID_TAIL} peer ids for ${t} keys`)
  out.ascii = (bits & 0x80) === 0
  out.indexed = idsAsBytes && out.ascii
  for (const r of [groupR, peerR, ...cols]) if (r.pos !== r.end) throw new Error('a column has bytes left over')
  return out
}
