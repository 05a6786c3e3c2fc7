/**
 * The one in-memory entry shape (`Entry`) and its persisted record (`EntryRecord`, the TypeBox
 * schema's type). Snapshots and the wire shape are views of the record, so a field is declared once.
 */
import { type Static, Type } from '@sinclair/typebox'
import type { AddressScope } from '../address-group.ts'
import { qualityOf } from './scoring.ts'

export type AddressSource = 'identify' | 'dht' | 'dial' | 'manual' | 'pairing' | 'presence'
export const ADDRESS_SOURCES: readonly AddressSource[] = ['identify', 'dht', 'dial', 'manual', 'pairing', 'presence']

/** How many failure times an entry remembers. */
export const FAILURE_HISTORY = 16

const Time = Type.Number({ minimum: 0 })
const Count = Type.Integer({ minimum: 0 })

/** One saved entry. An entry of another shape is skipped on load, not the whole book. */
export const EntryRecordSchema = Type.Object({
  multiaddr: Type.String(),
  peerId: Type.Optional(Type.String()),
  source: Type.Union(ADDRESS_SOURCES.map((s) => Type.Literal(s))),
  firstSeen: Time,
  lastSeen: Time,
  lastAttempt: Type.Optional(Time),
  lastSuccess: Type.Optional(Time),
  attempts: Count,
  successes: Count,
  failures: Count,
  /** Failures since the last success. */
  consecutiveFailures: Count,
  /** Times of the most recent failures (at most 16), oldest first. */
  failureTimes: Type.Array(Time),
})
export type EntryRecord = Static<typeof EntryRecordSchema>

/** A snapshot of one entry; mutating it does not change the book. */
export type AddressEntry = EntryRecord & {
  /** Network group, e.g. `ip4:1.2`. */
  group: string
  /** (successes + 1) / (successes + failures + 2): 0.5 for an untried address, in (0, 1). */
  quality: number
}

/** The `addressbook.list` wire shape. */
export type AddressBookWireEntry = Pick<
  AddressEntry,
  'multiaddr' | 'peerId' | 'source' | 'firstSeen' | 'lastSeen' | 'attempts' | 'successes' | 'failures' | 'quality'
>

/** One entry as the writer (binary.ts) sees it: an Entry, or a loaded slot not yet made one (columns.ts SlotCursor). */
export interface WritableEntry extends Omit<EntryRecord, 'failureTimes'> {
  failureTimes: ArrayLike<number>
  group: { key: string }
  scope: AddressScope
  /** True when the peer id is known to be the key's `/p2p/<id>` suffix (Entry.peerInKey): no need to read it. */
  readonly peerInKey?: boolean
}

/** A group's member: an Entry, or the slot of a loaded entry not yet made one (loaded-slots.ts). */
export type Slot = Entry | number

/** A network group's entries; see buckets.ts. */
export interface Group {
  key: string
  entries: Slot[]
  /** What selection reads of each entry, in the order of `entries` (draw-records.ts). */
  records: number[]
  /** Index in GroupBuckets.list. */
  li: number
}

/** The failure history of every entry that has none: one frozen array instead of 100k empty ones. */
export const NO_FAILURES: number[] = Object.freeze([]) as unknown as number[]

/** An entry as the book holds it: the record's fields plus its place in the group index. */
export class Entry implements EntryRecord {
  /**
   * The peer id; null while it is still only the `/p2p/<id>` suffix of the key (a loaded entry, see
   * peerFromKey): a load of 100k entries then slices no peer id until one is read.
   */
  private pid: string | null | undefined
  lastAttempt: number | undefined
  lastSuccess: number | undefined
  attempts = 0
  successes = 0
  failures = 0
  consecutiveFailures = 0
  /** Shared and frozen while empty (most entries never fail): markFailure gives an entry its own array. */
  failureTimes: number[] = NO_FAILURES
  /** Index in group.entries; -1 once removed. */
  gi = -1
  /** The loaded slot this entry was made from while it holds it (loaded-slots.ts); -1 for any other. */
  slot = -1
  constructor(
    public multiaddr: string,
    public source: AddressSource,
    public group: Group,
    /** Kept so that a load can apply the scope filter without parsing the address again (binary.ts). */
    public scope: AddressScope,
    public firstSeen: number,
    public lastSeen: number,
  ) {}

  get peerId(): string | undefined {
    const p = this.pid
    if (p !== null) return p
    const key = this.multiaddr
    this.pid = key.slice(key.lastIndexOf('/p2p/') + 5)
    return this.pid
  }

  set peerId(peerId: string | undefined) {
    this.pid = peerId
  }

  /** The peer id is the key's `/p2p/<id>` suffix (the caller checked that it has one), read from it when first asked. */
  peerFromKey(): void {
    this.pid = null
  }

  /** True while the peer id is the key's suffix, not yet read: the writer needs no copy of it. */
  get peerInKey(): boolean {
    return this.pid === null
  }
}

/** Entry -> record (for the file and for snapshots); unset optional fields are left out. */
export function toRecord(e: Entry): EntryRecord {
  const r: EntryRecord = {
    multiaddr: e.multiaddr,
    source: e.source,
    firstSeen: e.firstSeen,
    lastSeen: e.lastSeen,
    attempts: e.attempts,
    successes: e.successes,
    failures: e.failures,
    consecutiveFailures: e.consecutiveFailures,
    failureTimes: e.failureTimes,
  }
  if (e.peerId !== undefined) r.peerId = e.peerId
  if (e.lastAttempt !== undefined) r.lastAttempt = e.lastAttempt
  if (e.lastSuccess !== undefined) r.lastSuccess = e.lastSuccess
  return r
}

/**
 * Record -> entry: copies a saved record's counters onto a freshly inserted entry, clamping times
 * to `now` (a clock that went backwards must not make an entry look seen in the future) and
 * restoring the invariants a hand-edited file may break.
 */
export function applyRecord(e: Entry, r: EntryRecord, now: number): void {
  e.firstSeen = r.firstSeen
  e.lastSeen = r.lastSeen
  e.lastAttempt = r.lastAttempt
  e.lastSuccess = r.lastSuccess
  e.successes = r.successes
  e.failures = r.failures
  e.attempts = r.attempts
  e.consecutiveFailures = r.consecutiveFailures
  e.failureTimes = r.failureTimes
  settle(e, now)
}

/** Clamp a loaded entry's times to `now` and restore the invariants a hand-edited file may break (in place). */
export function settle(e: Entry, now: number): void {
  // no closures here: it runs once per entry of a load (100k), and a named arrow costs a defineProperty under tsx
  e.firstSeen = Math.min(e.firstSeen, now)
  e.lastSeen = Math.max(e.firstSeen, Math.min(e.lastSeen, now))
  // stored only when clamped: these fields hold boxed numbers, so every store of a computed one allocates
  if (e.lastAttempt !== undefined && e.lastAttempt > now) e.lastAttempt = now
  if (e.lastSuccess !== undefined && e.lastSuccess > now) e.lastSuccess = now
  e.attempts = Math.max(e.attempts, e.successes + e.failures)
  e.consecutiveFailures = Math.min(e.consecutiveFailures, e.failures)
  const times = e.failureTimes
  if (times.length > 0) {
    // a copy only when something is clamped or dropped (a load's own arrays are not shared)
    let clean = times.length <= FAILURE_HISTORY
    for (let i = 0; clean && i < times.length; i++) clean = (times[i] as number) <= now
    if (clean) return
    const from = Math.max(0, times.length - FAILURE_HISTORY)
    const kept: number[] = []
    for (let i = from; i < times.length; i++) kept.push(Math.min(times[i] as number, now))
    e.failureTimes = kept
  }
}

/** A group an entry points at before it joins the book (a loaded entry); the store swaps in its own. */
export function detachedGroup(key: string): Group {
  return { key, entries: [], records: [], li: -1 }
}

/**
 * The snapshot `get`, `forPeer` and `best` hand out: the record plus group and quality. Built by
 * adding to the record rather than spreading it, which V8 runs about 100x slower here (bench/address-book.ts).
 */
export function snapshotOf(e: Entry): AddressEntry {
  const s = toRecord(e) as AddressEntry
  s.failureTimes = [...e.failureTimes]
  s.group = e.group.key
  s.quality = qualityOf(e)
  return s
}

/** The `addressbook.list` view: no failure history, quality rounded to 3 decimals. */
export function wireOf(e: Entry): AddressBookWireEntry {
  const w: AddressBookWireEntry = {
    multiaddr: e.multiaddr,
    source: e.source,
    firstSeen: e.firstSeen,
    lastSeen: e.lastSeen,
    attempts: e.attempts,
    successes: e.successes,
    failures: e.failures,
    quality: Math.round(qualityOf(e) * 1000) / 1000,
  }
  if (e.peerId !== undefined) w.peerId = e.peerId
  return w
}
