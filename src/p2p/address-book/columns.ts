/**
 * The entries of a binary book file as decoded (binary.ts): one typed array per field beside the
 * file's inflated body, which holds the keys. No object per entry: a load of 100k entries makes
 * columns, and the book makes an Entry only for the entries it is asked about (loaded-slots.ts).
 * Entry i is "slot i". Times are as saved until settle() clamps them.
 *
 * A key that ends in `/p2p/<id>`, the id base58 of 32 bytes or more (every libp2p peer id), is kept
 * as its text up to the id (its "prefix") and the id's bytes: the head in the body after the prefix,
 * the last 32 bytes in the file's uncompressed `tails`. Its text is made only for an Entry. Which form
 * a key takes depends on its text alone (idKeyOf), so a lookup by text hashes it as the load did.
 */
import type { AddressScope } from '../address-group.ts'
import { base58Tail, decodeBase58, encodeBase58, tailValue } from './base58.ts'
import { tagOfPeerText, tagOfValue } from './draw-records.ts'
import { ADDRESS_SOURCES, type AddressSource, Entry, type Group, NO_FAILURES, type WritableEntry } from './entry.ts'
import { qualityFrom } from './scoring.ts'

/** The scopes an entry can have in the book (unspecified and reserved addresses are never stored), by their code in the file. */
export const STORED_SCOPES: readonly AddressScope[] = ['public', 'private', 'linkLocal', 'loopback']

/** Flags of an entry in the file. */
export const F_PEER = 1
/** The peer id is the key's `/p2p/<id>` suffix. */
export const F_SUFFIX = 2
export const F_ATTEMPT = 4
export const F_SUCCESS = 8
/** Times kept as f64 (not safe integers). */
export const F_FLOAT = 16
/** The key's id is kept as bytes (see above; only in files of version 3). */
export const F_IDBYTES = 32

/** The bytes of an id kept in `tails`: its random part, whatever the key type (an Ed25519 id is 6 + 32). */
export const ID_TAIL = 32
const MAX_ID_HEAD = 255

/** A count byte that means "the slot's four counts are in bigCounts". */
export const BIG_COUNT = 255

/**
 * FNV-1a of UTF-16 code units, last first; of a key's bytes too when they are ASCII (hashBytes, and
 * the decoder's, which hashes each key while it looks for its `/p2p/` from the end), so all agree.
 */
export function hashChars(s: string, to = s.length, h = 0x811c9dc5): number {
  for (let i = to - 1; i >= 0; i--) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return h >>> 0
}

function hashBytes(b: Uint8Array, from: number, to: number): number {
  let h = 0x811c9dc5
  for (let i = to - 1; i >= from; i--) h = Math.imul(h ^ (b[i] as number), 0x01000193)
  return h >>> 0
}

/** FNV-1a of bytes, first to last, continuing from `h` (an id kept as bytes, head then tail). */
export function hashForward(b: Uint8Array, from: number, to: number, h = 0x811c9dc5): number {
  for (let i = from; i < to; i++) h = Math.imul(h ^ (b[i] as number), 0x01000193)
  return h
}

/** The bytes of the peer id s[from ..) when they are kept as bytes (base58 of 32 to 287 bytes), else undefined. */
export function peerIdBytes(s: string, from = 0): Uint8Array | undefined {
  if (from >= s.length) return undefined
  const id = decodeBase58(s, from)
  return id !== undefined && id.length >= ID_TAIL && id.length - ID_TAIL <= MAX_ID_HEAD ? id : undefined
}

/** A key as the file keeps it: all its text, or its prefix and its id's bytes. */
export interface KeyParts {
  prefix: string
  id: Uint8Array | undefined
}

/** A key kept as its prefix (the text up to the id of its last `/p2p/`) and its id's bytes. */
export interface IdKey {
  prefixLength: number
  id: Uint8Array
}

/** The key's id form, or undefined when it is kept as text. */
export function idKeyOf(key: string): IdKey | undefined {
  const at = key.lastIndexOf('/p2p/')
  if (at < 0) return undefined
  const id = peerIdBytes(key, at + 5)
  return id === undefined ? undefined : { prefixLength: at + 5, id }
}

/** The key index's hash of `key` (its id form: the id's bytes, then the prefix's characters last first), as the decoder makes it. */
export function keyHash(key: string, idKey: IdKey | undefined): number {
  if (idKey === undefined) return hashChars(key)
  return hashChars(key, idKey.prefixLength, hashForward(idKey.id, 0, idKey.id.length))
}

/** The peer index's hash of a peer id: of its bytes when it is kept as bytes, else of its text. */
export function peerHash(peerId: string, id: Uint8Array | undefined): number {
  return id === undefined ? hashChars(peerId) : hashForward(id, 0, id.length) >>> 0
}

export class BookColumns {
  readonly firstSeen: Float64Array
  readonly lastSeen: Float64Array
  /**
   * Slot i's other times are extra[extraFrom[i] .. extraFrom[i + 1]): lastAttempt (with F_ATTEMPT),
   * lastSuccess (with F_SUCCESS), then its failure times, oldest first (at most FAILURE_HISTORY).
   * Most entries have none, so they take 4 bytes here rather than 16 + 2 arrays' worth.
   */
  readonly extraFrom: Uint32Array
  readonly extra: Float64Array
  /** attempts, successes, failures, consecutiveFailures: 4 bytes a slot, or BIG_COUNT first and the four in bigCounts. */
  readonly counts: Uint8Array
  readonly bigCounts = new Map<number, readonly number[]>()
  readonly flags: Uint8Array
  readonly sourceScope: Uint8Array
  /** Index in groupKeys. */
  readonly group: Uint16Array | Uint32Array
  /** 1 + the index in `peers` of an entry whose peer id is not its key's suffix; 0 otherwise (most: left unwritten). */
  readonly peer: Uint32Array
  /** Where the key is in `body`, and its length in bytes. */
  readonly keyStart: Uint32Array
  readonly keyLength: Uint16Array
  /** hashChars of each key, made by the decoder (hashBytes of an ASCII key). */
  readonly keyHashes: Uint32Array
  /** The length of the peer id that ends the key, for an entry with F_SUFFIX (its text). */
  readonly peerLength: Uint8Array
  /** The index in `tails` of the last 32 bytes of a key's id (F_IDBYTES); its head follows the prefix in the body, after its length. */
  readonly idTail: Uint32Array
  /** Whether every key is ASCII (byte offsets are then character offsets, and hashBytes agrees with hashChars); set by the decoder. */
  ascii = true
  /** Whether keyHashes are keyHash()'s: a file of version 3 whose keys are ASCII (else the book loads its entries as objects). */
  indexed = true

  /**
   * Memory for `count` slots; every byte written costs its page's first touch (bench/address-book.ts:
   * 4-6 ms per MiB here), which is why the slots are this narrow. `extraRoom` bounds the extra times.
   */
  constructor(
    readonly count: number,
    /** The inflated body: the key column is read from it. */
    readonly body: Buffer,
    readonly groupKeys: readonly string[],
    readonly peers: readonly string[],
    extraRoom: number,
    /** The ids' last 32 bytes, each ID_TAIL bytes (the file's own bytes: never deflated). */
    readonly tails: Uint8Array,
  ) {
    this.firstSeen = new Float64Array(count)
    this.lastSeen = new Float64Array(count)
    this.extraFrom = new Uint32Array(count + 1)
    this.extra = new Float64Array(extraRoom)
    this.counts = new Uint8Array(count * 4)
    this.flags = new Uint8Array(count)
    this.sourceScope = new Uint8Array(count)
    this.group = groupKeys.length <= 0x10000 ? new Uint16Array(count) : new Uint32Array(count)
    this.peer = new Uint32Array(count)
    this.keyStart = new Uint32Array(count)
    this.keyLength = new Uint16Array(count)
    this.keyHashes = new Uint32Array(count)
    this.peerLength = new Uint8Array(count)
    this.idTail = new Uint32Array(count)
  }

  keyEnd(i: number): number {
    return (this.keyStart[i] as number) + (this.keyLength[i] as number)
  }

  keyOf(i: number): string {
    const prefix = this.body.toString(this.ascii ? 'latin1' : 'utf8', this.keyStart[i], this.keyEnd(i))
    return (this.flags[i] as number) & F_IDBYTES ? prefix + this.idTextOf(i) : prefix
  }

  /** The bytes of the key's id (F_IDBYTES): head and tail joined. */
  idOf(i: number): Uint8Array {
    const headAt = this.keyEnd(i) + 1
    const head = this.body[headAt - 1] as number
    const id = new Uint8Array(head + ID_TAIL)
    id.set(this.body.subarray(headAt, headAt + head))
    const t = (this.idTail[i] as number) * ID_TAIL
    id.set(this.tails.subarray(t, t + ID_TAIL), head)
    return id
  }

  private idTextOf(i: number): string {
    return encodeBase58(this.idOf(i))
  }

  /** FNV-1a of the key's id bytes (F_IDBYTES), head then tail: peerHash's (and keyHash's start). */
  private idHash(i: number): number {
    const headAt = this.keyEnd(i) + 1
    const h = hashForward(this.body, headAt, headAt + (this.body[headAt - 1] as number))
    const t = (this.idTail[i] as number) * ID_TAIL
    return hashForward(this.tails, t, t + ID_TAIL, h)
  }

  /** Whether slot i's id (F_IDBYTES) is `id`. */
  private idEquals(i: number, id: Uint8Array): boolean {
    const headAt = this.keyEnd(i) + 1
    const head = this.body[headAt - 1] as number
    if (id.length !== head + ID_TAIL) return false
    const b = this.body
    for (let k = 0; k < head; k++) if (b[headAt + k] !== id[k]) return false
    const tails = this.tails
    const t = (this.idTail[i] as number) * ID_TAIL - head
    for (let k = head; k < id.length; k++) if (tails[t + k] !== id[k]) return false
    return true
  }

  sourceOf(i: number): AddressSource {
    return ADDRESS_SOURCES[(this.sourceScope[i] as number) & 0x0f] as AddressSource
  }

  scopeOf(i: number): AddressScope {
    return STORED_SCOPES[(this.sourceScope[i] as number) >> 4] as AddressScope
  }

  hasPeer(i: number): boolean {
    return ((this.flags[i] as number) & F_PEER) !== 0
  }

  /** Count k (0 attempts, 1 successes, 2 failures, 3 consecutiveFailures) of slot i. */
  countOf(i: number, k: number): number {
    const c = this.counts[i * 4] as number
    if (c === BIG_COUNT) return (this.bigCounts.get(i) as readonly number[])[k] as number
    return this.counts[i * 4 + k] as number
  }

  lastAttemptOf(i: number): number | undefined {
    return (this.flags[i] as number) & F_ATTEMPT ? (this.extra[this.extraFrom[i] as number] as number) : undefined
  }

  lastSuccessOf(i: number): number | undefined {
    const f = this.flags[i] as number
    return f & F_SUCCESS ? (this.extra[(this.extraFrom[i] as number) + (f & F_ATTEMPT ? 1 : 0)] as number) : undefined
  }

  failureTimesOf(i: number): Float64Array {
    const f = this.flags[i] as number
    const from = (this.extraFrom[i] as number) + (f & F_ATTEMPT ? 1 : 0) + (f & F_SUCCESS ? 1 : 0)
    return this.extra.subarray(from, this.extraFrom[i + 1])
  }

  /** The peer id (its key's id, or taken from the peer table); undefined when none. */
  peerIdOf(i: number): string | undefined {
    const f = this.flags[i] as number
    if (f & F_SUFFIX) {
      if (f & F_IDBYTES) return this.idTextOf(i)
      return this.body.toString(this.ascii ? 'latin1' : 'utf8', this.keyEnd(i) - (this.peerLength[i] as number), this.keyEnd(i))
    }
    return f & F_PEER ? this.peers[(this.peer[i] as number) - 1] : undefined
  }

  /** Whether slot i's key is `key`, whose id form is `idKey` (idKeyOf). */
  keyEquals(i: number, key: string, idKey: IdKey | undefined): boolean {
    const byId = ((this.flags[i] as number) & F_IDBYTES) !== 0
    if (byId !== (idKey !== undefined)) return false
    const n = idKey === undefined ? key.length : idKey.prefixLength
    if (this.keyLength[i] !== n) return false
    const from = this.keyStart[i] as number
    const b = this.body
    for (let k = 0; k < n; k++) if (b[from + k] !== key.charCodeAt(k)) return false
    return idKey === undefined || this.idEquals(i, idKey.id)
  }

  /** Whether slots i and j hold the same key. */
  sameKey(i: number, j: number): boolean {
    const byId = (this.flags[i] as number) & F_IDBYTES
    if (byId !== ((this.flags[j] as number) & F_IDBYTES) || this.keyLength[i] !== this.keyLength[j]) return false
    const b = this.body
    const a = this.keyStart[i] as number
    const c = this.keyStart[j] as number
    for (let k = 0; k < (this.keyLength[i] as number); k++) if (b[a + k] !== b[c + k]) return false
    return byId === 0 || this.idEquals(i, this.idOf(j))
  }

  /** peerHash of the slot's peer id (the slot has one). */
  peerHash(i: number): number {
    const f = this.flags[i] as number
    if (f & F_SUFFIX) {
      if (f & F_IDBYTES) return this.idHash(i) >>> 0
      return hashBytes(this.body, this.keyEnd(i) - (this.peerLength[i] as number), this.keyEnd(i))
    }
    const p = this.peers[(this.peer[i] as number) - 1] as string
    return peerHash(p, peerIdBytes(p))
  }

  /** Whether the slot's peer id is `peerId`, whose bytes (peerIdBytes) are `id`. */
  peerEquals(i: number, peerId: string, id: Uint8Array | undefined): boolean {
    const f = this.flags[i] as number
    if (!(f & F_SUFFIX)) return this.peers[(this.peer[i] as number) - 1] === peerId
    if (f & F_IDBYTES) return id !== undefined && this.idEquals(i, id)
    if (this.peerLength[i] !== peerId.length) return false
    const from = this.keyEnd(i) - peerId.length
    const b = this.body
    for (let k = 0; k < peerId.length; k++) if (b[from + k] !== peerId.charCodeAt(k)) return false
    return true
  }

  /** The draw record's peer tag (draw-records.ts tagOfPeerText), of an id kept as bytes without its text. */
  peerTag(i: number): number {
    const f = this.flags[i] as number
    if ((f & (F_SUFFIX | F_IDBYTES)) === (F_SUFFIX | F_IDBYTES)) {
      const headAt = this.keyEnd(i) + 1
      const t = (this.idTail[i] as number) * ID_TAIL
      const acc = base58Tail(this.body, headAt, headAt + (this.body[headAt - 1] as number), ID_TAIL, base58Tail(this.tails, t, t + ID_TAIL))
      return tagOfValue(tailValue(acc, this.tails[t + ID_TAIL - 1] as number))
    }
    const p = this.peerIdOf(i)
    return p === undefined ? 0 : tagOfPeerText(p)
  }

  /** Append slot i's draw record (draw-records.ts pushRecord) to `records`. */
  pushRecord(records: number[], i: number): void {
    records.push(
      this.lastAttemptOf(i) ?? Number.NaN,
      qualityFrom(this.countOf(i, 1), this.countOf(i, 2)),
      Math.min(this.countOf(i, 3), 8) + 16 * this.peerTag(i),
    )
  }

  /** Clamp every slot's times to `now`, as entry.ts settle() does for an Entry (the decoder restored the counts' invariants). */
  settle(now: number): void {
    const { firstSeen, lastSeen, extra } = this
    for (let i = 0; i < this.count; i++) {
      const first = Math.min(firstSeen[i] as number, now)
      firstSeen[i] = first
      lastSeen[i] = Math.max(first, Math.min(lastSeen[i] as number, now))
    }
    const used = this.extraFrom[this.count] as number
    for (let k = 0; k < used; k++) if ((extra[k] as number) > now) extra[k] = now
  }

  /** Slot i as an Entry of `group` (not yet in it: the caller places it). */
  entryOf(i: number, group: Group): Entry {
    const e = new Entry(this.keyOf(i), this.sourceOf(i), group, this.scopeOf(i), this.firstSeen[i] as number, this.lastSeen[i] as number)
    const f = this.flags[i] as number
    if (f & F_SUFFIX) e.peerFromKey()
    else if (f & F_PEER) e.peerId = this.peers[(this.peer[i] as number) - 1]
    e.lastAttempt = this.lastAttemptOf(i)
    e.lastSuccess = this.lastSuccessOf(i)
    e.attempts = this.countOf(i, 0)
    e.successes = this.countOf(i, 1)
    e.failures = this.countOf(i, 2)
    e.consecutiveFailures = this.countOf(i, 3)
    const times = this.failureTimesOf(i)
    e.failureTimes = times.length > 0 ? Array.from(times) : NO_FAILURES
    return e
  }

  /** A view of slot i for the writer (binary.ts WritableEntry), without making an Entry: one object moved from slot to slot. */
  cursor(): SlotCursor {
    return new SlotCursor(this)
  }
}

/** The writer's view of one slot at a time (see BookColumns.cursor). */
export class SlotCursor implements WritableEntry {
  i = 0
  group = { key: '' }
  constructor(private readonly c: BookColumns) {}

  at(i: number): this {
    this.i = i
    this.group.key = this.c.groupKeys[this.c.group[i] as number] as string
    return this
  }
  get multiaddr(): string {
    return this.c.keyOf(this.i)
  }
  /** The key as the file keeps it: its prefix and its id's bytes (binary.ts), with no text made for the id. */
  keyParts(): KeyParts {
    const c = this.c
    const prefix = c.body.toString(c.ascii ? 'latin1' : 'utf8', c.keyStart[this.i], c.keyEnd(this.i))
    return { prefix, id: (c.flags[this.i] as number) & F_IDBYTES ? c.idOf(this.i) : undefined }
  }
  get peerId(): string | undefined {
    return this.c.peerIdOf(this.i)
  }
  get peerInKey(): boolean {
    return ((this.c.flags[this.i] as number) & F_SUFFIX) !== 0
  }
  get source(): AddressSource {
    return this.c.sourceOf(this.i)
  }
  get scope(): AddressScope {
    return this.c.scopeOf(this.i)
  }
  get firstSeen(): number {
    return this.c.firstSeen[this.i] as number
  }
  get lastSeen(): number {
    return this.c.lastSeen[this.i] as number
  }
  get lastAttempt(): number | undefined {
    return this.c.lastAttemptOf(this.i)
  }
  get lastSuccess(): number | undefined {
    return this.c.lastSuccessOf(this.i)
  }
  get attempts(): number {
    return this.c.countOf(this.i, 0)
  }
  get successes(): number {
    return this.c.countOf(this.i, 1)
  }
  get failures(): number {
    return this.c.countOf(this.i, 2)
  }
  get consecutiveFailures(): number {
    return this.c.countOf(this.i, 3)
  }
  get failureTimes(): Float64Array {
    return this.c.failureTimesOf(this.i)
  }
}
