/**
 * The address book: a persistent, endpoint-centric store of dialable multiaddrs with quality
 * tracking, network-group diversity and bounded size (seed design 004: "address book vs peer
 * manager"; peer identity and bans live in reputation.ts). The parts live beside this file: entry.ts
 * (the entry and its saved record), validation.ts, store.ts and buckets.ts (indexes), scoring.ts,
 * eviction.ts, pending-tests.ts, selection.ts and persistence.ts.
 *
 * Decisions a caller must know:
 * - Keys. An entry is keyed by its canonical multiaddr string. When a peer id is known (embedded
 *   as `/p2p/<id>` or passed as `peerId`) the key always ends in `/p2p/<id>`, so the same endpoint
 *   reported by identify (bare + peerId) and by the DHT (with `/p2p/`) is one entry. A bare entry
 *   learns its peer id when it is re-added with one. Use `entry.multiaddr` from `best()`/`forPeer()`
 *   when reporting back with `markAttempt/markSuccess/markFailure`; those also accept a bare address
 *   plus the peer id.
 * - Scope filter. Loopback, private and link-local addresses are refused unless the matching
 *   `allow*` option is set; unspecified and reserved addresses are always refused. A LAN device
 *   mesh must set `allowPrivate` (and `allowLinkLocal` for mDNS `.local` names).
 * - Group limits. At most `maxPerGroup` (default 64) entries per network group (IPv4 /16, IPv6 /32,
 *   DNS domain; see ../address-group.ts) are stored, so an attacker needs `capacity / 64` (157 with the
 *   defaults) distinct /16s to fill the book. A full group only makes room by evicting a terrible
 *   entry of its own.
 * - Eviction when the book is full, worst first: terrible entries (not seen for 30 days; 3+
 *   attempts and never a success; 10+ failures in 7 days), then entries that never succeeded
 *   (lowest keep value first), and only then entries that once succeeded, which are never evicted
 *   directly: test-before-evict. The newcomer is parked as pending (`add` answers
 *   `{added: false, reason: 'pending-test'}`) and the old entry is listed by `pendingTests()`; the
 *   caller dials it and reports the outcome. `markSuccess(old)` keeps it and discards the newcomer;
 *   `markFailure(old)` evicts it and inserts the newcomer. A test left unresolved for
 *   `testTimeoutMs` (1 h) lapses in favour of the old entry. At most `maxPendingTests` (16) tests
 *   are open; beyond that a newcomer is refused with `full`. Pending tests are not persisted.
 * - Selection. `best(n)` draws without replacement: a random network group first (uniformly, so
 *   a crowded group is no more likely than a lone address), then a random entry in it, accepted
 *   with probability `chance` (see `chanceOf`); the result holds at most `ceil(n/4)` entries per
 *   group (2 for n = 8) and one address per peer. It may return fewer than n rather than relax
 *   those limits. `best(n, {peerId})` ranks only that peer's addresses, with no group limit.
 * - `lastSeen` is refreshed by every `add` of a known address and by `markSuccess`. A re-add keeps
 *   the first `source`, except that `manual` and `pairing` take over.
 * - Invariant: `attempts >= successes + failures`; an outcome reported without a prior
 *   `markAttempt` counts as an attempt.
 */
import { unlink } from 'node:fs/promises'
import type { AddressScope } from '../address-group.ts'
import { CorruptFileError, quarantine } from '../atomic-file.ts'
import {
  type AddressBookWireEntry,
  type AddressEntry,
  type AddressSource,
  applyRecord,
  detachedGroup,
  Entry,
  FAILURE_HISTORY,
  type Group,
  NO_FAILURES,
  settle,
  snapshotOf,
  wireOf,
} from './entry.ts'
import { EvictionRanking } from './eviction.ts'
import type { PendingTest } from './pending-tests.ts'
import { PendingTests } from './pending-tests.ts'
import { type BookFileContent, BookWriter, readBookFile, restorable, validRecords } from './persistence.ts'
import { chanceOf, qualityOf } from './scoring.ts'
import { exactPick, sampledPick } from './selection.ts'
import { EntryStore } from './store.ts'
import { type AddReason, type Candidate, type ScopePolicy, scopeRefusal, toCandidate } from './validation.ts'

export interface AddResult {
  added: boolean
  /** Why it was not added; `exists` means it was already there and has been refreshed. */
  reason?: AddReason
  /** The multiaddr evicted to make room, if any. */
  evicted?: string
}

export interface AddressBookOptions {
  /** Maximum number of entries (default 10,000). */
  capacity?: number
  /** Maximum entries per network group (default 64). */
  maxPerGroup?: number
  allowLoopback?: boolean
  allowPrivate?: boolean
  allowLinkLocal?: boolean
  now?: () => number
  random?: () => number
  /** Where save() writes and load() reads. */
  path?: string
  /** Receives warnings (corrupt file, skipped entries); default console.warn. */
  log?: (msg: string) => void
  /** How long a test-before-evict waits for its verdict (default 1 h). */
  testTimeoutMs?: number
  /** How many test-before-evict verdicts may be outstanding (default 16). */
  maxPendingTests?: number
  /** With saveOnChange: how long a change may wait for the write that holds it (default 500 ms). */
  saveDelayMs?: number
}

export interface LoadOptions extends Omit<AddressBookOptions, 'path'> {
  /**
   * A book of the old JSON format (version 1) to migrate from when `path` does not exist yet: it is
   * read once, written to `path` in the binary format, and then removed.
   */
  migrateFrom?: string
}

export interface BestOptions {
  /** Only this peer's addresses (no group limit). */
  peerId?: string
  /** Override the per-group limit in the result (default ceil(n/4)). */
  perGroup?: number
}

export const DEFAULT_CAPACITY = 10_000
export const DEFAULT_MAX_PER_GROUP = 64

const savedCount = (data: BookFileContent) => (data.kind === 'binary' ? data.columns.count : data.entries.length)

/** Books up to this size are ranked exactly in best(); larger ones are sampled. */
const EXACT_SELECTION_MAX = 1024

export class AddressBook {
  readonly capacity: number
  readonly maxPerGroup: number
  readonly path: string | undefined
  private readonly scope: ScopePolicy
  private readonly testTimeoutMs: number
  private readonly maxPendingTests: number
  private readonly now: () => number
  private readonly random: () => number
  private readonly log: (msg: string) => void

  private readonly store = new EntryStore()
  private readonly pending = new PendingTests()
  private readonly eviction = new EvictionRanking(
    () => this.store.values(),
    (group) => this.store.entriesOf(group),
    (key) => this.pending.isVictim(key),
  )
  private readonly writer: BookWriter

  constructor(options: AddressBookOptions = {}) {
    this.capacity = Math.max(1, Math.floor(options.capacity ?? DEFAULT_CAPACITY))
    this.maxPerGroup = Math.max(1, Math.floor(options.maxPerGroup ?? DEFAULT_MAX_PER_GROUP))
    this.path = options.path
    this.scope = {
      allowLoopback: options.allowLoopback ?? false,
      allowPrivate: options.allowPrivate ?? false,
      allowLinkLocal: options.allowLinkLocal ?? false,
    }
    this.testTimeoutMs = options.testTimeoutMs ?? 60 * 60_000
    this.maxPendingTests = options.maxPendingTests ?? 16
    this.now = options.now ?? Date.now
    this.random = options.random ?? Math.random
    this.log = options.log ?? ((msg) => console.warn(msg))
    this.writer = new BookWriter(this.path, () => this.store.writable(), this.now, options.saveDelayMs ?? 500)
  }

  /**
   * From now on every change is saved within about `saveDelayMs` (writes coalesced), so a kill loses
   * at most that much; failures go to `onError`. Returns the function that stops it.
   */
  saveOnChange(onError: (err: Error) => void): () => void {
    return this.writer.saveOnChange(onError)
  }

  get size(): number {
    return this.store.size
  }

  /** Number of distinct network groups held. */
  get groupCount(): number {
    return this.store.buckets.count
  }

  /** Add or refresh an address. */
  add(multiaddr: string, options: { peerId?: string; source: AddressSource }): AddResult {
    const now = this.now()
    const c = toCandidate(multiaddr, options.peerId, options.source, this.scope)
    if (typeof c === 'string') return { added: false, reason: c }

    const existing = this.store.get(c.key) ?? this.adoptBare(c)
    if (existing !== undefined) {
      existing.lastSeen = Math.max(existing.lastSeen, now)
      if (c.source === 'manual' || c.source === 'pairing') existing.source = c.source
      this.store.touch(existing)
      this.writer.changed()
      return { added: false, reason: 'exists' }
    }
    this.pending.expire(now, this.testTimeoutMs)
    if (this.pending.isCandidate(c.key)) return { added: false, reason: 'pending-test' }

    let evicted: string | undefined
    const group = this.store.buckets.get(c.parsed.group)
    if (group !== undefined && group.entries.length >= this.maxPerGroup) {
      const victim = this.eviction.worstTerribleIn(group, now)
      if (victim === undefined) return { added: false, reason: 'group-full' }
      evicted = victim.multiaddr
      this.store.remove(victim)
    }
    if (this.store.size >= this.capacity) {
      const made = this.makeRoom(c, now)
      if (made.reason !== undefined) return { added: false, reason: made.reason }
      evicted = made.evicted
    }
    this.insert(c, now)
    this.writer.changed()
    return evicted === undefined ? { added: true } : { added: true, evicted }
  }

  /** A snapshot of the entry, or undefined. Accepts a bare address plus its peer id. */
  get(multiaddr: string, peerId?: string): AddressEntry | undefined {
    const e = this.store.lookup(multiaddr, peerId)
    return e === undefined ? undefined : snapshotOf(e)
  }

  has(multiaddr: string, peerId?: string): boolean {
    return this.store.lookup(multiaddr, peerId) !== undefined
  }

  /** A dial to this address is starting. Returns false when the address is unknown. */
  markAttempt(multiaddr: string, peerId?: string): boolean {
    const e = this.store.lookup(multiaddr, peerId)
    if (e === undefined) return false
    e.attempts++
    e.lastAttempt = this.now()
    this.store.touch(e)
    this.eviction.noteChanged(e) // more attempts can make an entry terrible
    this.writer.changed()
    return true
  }

  /** A dial (or a test-before-evict) succeeded. Returns false when the address is unknown. */
  markSuccess(multiaddr: string, peerId?: string): boolean {
    const e = this.store.lookup(multiaddr, peerId)
    if (e === undefined) return false
    const now = this.now()
    e.successes++
    e.attempts = Math.max(e.attempts, e.successes + e.failures)
    e.lastSuccess = now
    e.lastSeen = now
    e.consecutiveFailures = 0
    this.store.touch(e)
    const p = this.pending.of(e.multiaddr)
    if (p !== undefined) this.pending.drop(p) // it passed its test: keep it, forget the newcomer
    this.writer.changed()
    return true
  }

  /** A dial failed. Returns false when the address is unknown. */
  markFailure(multiaddr: string, peerId?: string): boolean {
    const e = this.store.lookup(multiaddr, peerId)
    if (e === undefined) return false
    const now = this.now()
    e.failures++
    e.attempts = Math.max(e.attempts, e.successes + e.failures)
    e.consecutiveFailures++
    if (e.failureTimes === NO_FAILURES) e.failureTimes = []
    e.failureTimes.push(now)
    if (e.failureTimes.length > FAILURE_HISTORY) e.failureTimes.splice(0, e.failureTimes.length - FAILURE_HISTORY)
    this.store.touch(e)
    this.eviction.noteChanged(e)
    const p = this.pending.of(e.multiaddr)
    if (p !== undefined) {
      // it failed its test: the newcomer takes its place
      this.pending.drop(p)
      this.store.remove(e)
      this.insertIfRoom(p.candidate, now)
    }
    this.writer.changed()
    return true
  }

  /** Remove an address; a test-before-evict waiting on it resolves in the newcomer's favour. */
  remove(multiaddr: string, peerId?: string): boolean {
    const e = this.store.lookup(multiaddr, peerId)
    if (e === undefined) return false
    const p = this.pending.of(e.multiaddr)
    if (p !== undefined) this.pending.drop(p)
    this.store.remove(e)
    if (p !== undefined) this.insertIfRoom(p.candidate, this.now())
    this.writer.changed()
    return true
  }

  /** This peer's addresses, best first (highest chance, then most recent success, then most recently seen). */
  forPeer(peerId: string): AddressEntry[] {
    const now = this.now()
    return this.store
      .ofPeer(peerId)
      .map((e) => ({ e, c: chanceOf(e, now) }))
      .sort((a, b) => b.c - a.c || (b.e.lastSuccess ?? 0) - (a.e.lastSuccess ?? 0) || b.e.lastSeen - a.e.lastSeen)
      .map(({ e }) => snapshotOf(e))
  }

  /** Pick up to n addresses to dial (see the module comment for the rules). */
  best(n: number, options: BestOptions = {}): AddressEntry[] {
    const want = Math.floor(n)
    if (!(want > 0)) return []
    const now = this.now()
    if (options.peerId !== undefined) {
      const mine = this.store.ofPeer(options.peerId)
      if (mine.length === 0) return []
      return exactPick(mine, want, options.perGroup ?? Number.POSITIVE_INFINITY, false, now, this.random).map(snapshotOf)
    }
    const perGroup = Math.max(1, Math.floor(options.perGroup ?? Math.ceil(want / 4)))
    const picked =
      this.store.size <= EXACT_SELECTION_MAX
        ? exactPick([...this.store.values()], want, perGroup, true, now, this.random)
        : sampledPick(this.store.buckets.withRecords(), (g, i) => this.store.at(g, i), want, perGroup, now, this.random)
    return picked.map(snapshotOf)
  }

  /** Entries in the `addressbook.list` wire shape, highest quality first, then most recently seen. */
  list(limit?: number): AddressBookWireEntry[] {
    const all = [...this.store.values()].sort((a, b) => qualityOf(b) - qualityOf(a) || b.lastSeen - a.lastSeen)
    const max = limit === undefined ? all.length : Math.max(0, Math.floor(limit))
    return all.slice(0, max).map(wireOf)
  }

  /** Once-good entries waiting for a test dial before they may be evicted. */
  pendingTests(): PendingTest[] {
    this.pending.expire(this.now(), this.testTimeoutMs)
    return this.pending.list()
  }

  /**
   * Write the book atomically now; resolves once the book as it is now is on disk (saves are
   * serialised). Pending tests are not saved.
   */
  save(path: string | undefined = this.path): Promise<void> {
    return this.writer.save(path)
  }

  /**
   * Load a book saved by save() (the binary format, or the JSON of version 1). A missing file gives
   * an empty book, or with `migrateFrom` the entries of that old JSON book, which is then rewritten
   * to `path` in the binary format and removed. A corrupt file (bad magic or JSON, checksum, format,
   * version, truncation or shape) is logged, moved aside with quarantine(), and an empty book is
   * returned. Entries the current options refuse (scope, group limit, capacity: the best are kept)
   * are skipped and counted in the log. Other I/O errors are thrown.
   */
  static async load(path: string, options: LoadOptions = {}): Promise<AddressBook> {
    const { migrateFrom, ...rest } = options
    const book = new AddressBook({ ...rest, path })
    let from = path
    let data = await book.readOrQuarantine(path)
    if (data === undefined && migrateFrom !== undefined && migrateFrom !== path) {
      from = migrateFrom
      data = await book.readOrQuarantine(migrateFrom)
      if (data === undefined) return book
      const skipped = book.restore(data)
      if (skipped > 0) book.logSkipped(from, skipped, savedCount(data))
      // the new file first: a kill between the two leaves both, and the next start reads the new one
      await book.save()
      await unlink(migrateFrom).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err
      })
      book.log(`address book: migrated ${book.size} entries from ${migrateFrom} (JSON) to ${path} (binary)`)
      return book
    }
    if (data === undefined) return book
    const skipped = book.restore(data)
    if (skipped > 0) book.logSkipped(from, skipped, savedCount(data))
    return book
  }

  // ---- internals ----

  /** A bare entry (no peer id) for the same endpoint takes on the peer id of `c`. */
  private adoptBare(c: Candidate) {
    if (c.peerId === undefined || c.parsed.peerId !== undefined) return undefined
    const bare = this.store.get(c.parsed.multiaddr)
    if (bare === undefined || bare.peerId !== undefined || this.pending.isVictim(bare.multiaddr)) return undefined
    this.store.rekey(bare, c.key, c.peerId)
    return bare
  }

  private insert(c: Candidate, now: number) {
    const e = this.store.insert(c.key, c.parsed.group, c.peerId, c.source, c.parsed.scope, now)
    this.eviction.noteChanged(e) // a newcomer may rank below cached once-good entries
    return e
  }

  /** Insert a pending newcomer after its victim went away, if the book and its group have room. */
  private insertIfRoom(c: Candidate, now: number): void {
    if (this.store.has(c.key) || this.store.size >= this.capacity) return
    if (this.store.buckets.sizeOf(c.parsed.group) >= this.maxPerGroup) return
    this.insert(c, now)
  }

  /** Make room for `c` in a full book: evict the worst entry, or open a test-before-evict. */
  private makeRoom(c: Candidate, now: number): { evicted?: string; reason?: AddReason } {
    const victim = this.eviction.pickVictim(now)
    if (victim === undefined) return { reason: 'full' }
    if (victim.tier < 2) {
      this.store.remove(victim.entry)
      return { evicted: victim.entry.multiaddr }
    }
    if (this.pending.size >= this.maxPendingTests) return { reason: 'full' }
    this.pending.open(victim.entry, c, now)
    return { reason: 'pending-test' }
  }

  /** The content of a book file, or undefined when it is missing or was corrupt (then moved aside and logged). */
  private async readOrQuarantine(path: string) {
    try {
      return await readBookFile(path)
    } catch (err) {
      if (!(err instanceof CorruptFileError)) throw err
      const instead = 'starting with an empty address book'
      try {
        const aside = await quarantine(path)
        this.log(`address book is corrupt: ${err.message}; moved it aside to ${aside} and ${instead}`)
      } catch (qerr) {
        this.log(`address book is corrupt: ${err.message}; could not move it aside (${(qerr as Error).message}); ${instead}`)
      }
      return undefined
    }
  }

  private logSkipped(path: string, skipped: number, of: number): void {
    this.log(`address book ${path}: skipped ${skipped} of ${of} saved entries (invalid, refused by the current options, or over capacity)`)
  }

  /** Re-insert saved entries under the current options; returns how many were skipped. */
  private restore(data: BookFileContent): number {
    const now = this.now()
    let loaded: Entry[]
    if (data.kind === 'binary') {
      // checked when written (and by the checksum since): only the options may refuse an entry now
      const columns = data.columns
      const admits = (scope: AddressScope) => scopeRefusal(scope, this.scope) === undefined
      if (columns.count <= this.capacity && columns.indexed) {
        columns.settle(now)
        return columns.count - this.store.adoptLoaded(columns, admits, this.maxPerGroup)
      }
      // more than fit (the best are kept), keys that are not ASCII (the columns' key index reads bytes), or a version 2 file (its keys hashed otherwise): as objects
      const groups = columns.groupKeys.map(detachedGroup)
      loaded = []
      for (let i = 0; i < columns.count; i++)
        if (admits(columns.scopeOf(i))) loaded.push(columns.entryOf(i, groups[columns.group[i] as number] as Group))
    } else {
      loaded = []
      for (const r of validRecords(data.entries)) {
        const c = toCandidate(r.multiaddr, r.peerId, r.source, this.scope)
        if (typeof c === 'string') continue
        const e = new Entry(c.key, r.source, detachedGroup(c.parsed.group), c.parsed.scope, 0, 0)
        e.peerId = c.peerId
        applyRecord(e, r, now)
        loaded.push(e)
      }
    }
    let restored = 0
    for (const e of restorable(loaded, this.capacity, now)) {
      if (this.store.size >= this.capacity) break
      if (!this.store.adopt(e, this.maxPerGroup)) continue
      settle(e, now)
      restored++
    }
    return savedCount(data) - restored
  }
}
