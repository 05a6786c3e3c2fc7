/**
 * The address book: a persistent, endpoint-centric store of dialable multiaddrs with quality
 * tracking, network-group diversity and bounded size (seed design 004: "address book vs peer
 * manager"; peer identity and bans live in reputation.ts).
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
 *   DNS domain; see address-group.ts) are stored, so an attacker needs `capacity / 64` (157 with the
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
import { type Static, Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { CoalescedWrite } from './coalesced-write.ts'
import { jsonFile } from './json-file.ts'
import { type ParsedAddress, isPeerIdString, tryParseAddress } from './address-group.ts'

export type AddressSource = 'identify' | 'dht' | 'dial' | 'manual' | 'pairing' | 'presence'
export const ADDRESS_SOURCES: readonly AddressSource[] = ['identify', 'dht', 'dial', 'manual', 'pairing', 'presence']

/** A snapshot of one entry; mutating it does not change the book. */
export interface AddressEntry {
  multiaddr: string
  peerId?: string
  source: AddressSource
  /** Network group, e.g. `ip4:1.2`. */
  group: string
  firstSeen: number
  lastSeen: number
  lastAttempt?: number
  lastSuccess?: number
  attempts: number
  successes: number
  failures: number
  /** Failures since the last success. */
  consecutiveFailures: number
  /** Times of the most recent failures (at most 16), oldest first. */
  failureTimes: number[]
  /** (successes + 1) / (successes + failures + 2): 0.5 for an untried address, in (0, 1). */
  quality: number
}

/** The `addressbook.list` wire shape. */
export interface AddressBookWireEntry {
  multiaddr: string
  peerId?: string
  source: AddressSource
  firstSeen: number
  lastSeen: number
  attempts: number
  successes: number
  failures: number
  quality: number
}

export type AddReason =
  | 'exists'
  | 'invalid'
  | 'peer-mismatch'
  | 'unspecified'
  | 'reserved'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'group-full'
  | 'full'
  | 'pending-test'

export interface AddResult {
  added: boolean
  /** Why it was not added; `exists` means it was already there and has been refreshed. */
  reason?: AddReason
  /** The multiaddr evicted to make room, if any. */
  evicted?: string
}

export interface PendingTest {
  /** The once-good entry to dial now. */
  multiaddr: string
  peerId?: string
  /** The newcomer that replaces it if the dial fails. */
  candidate: string
  since: number
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

export interface BestOptions {
  /** Only this peer's addresses (no group limit). */
  peerId?: string
  /** Override the per-group limit in the result (default ceil(n/4)). */
  perGroup?: number
}

export const ADDRESS_BOOK_FORMAT = 'switchboard.addressbook'
export const ADDRESS_BOOK_VERSION = 1
export const DEFAULT_CAPACITY = 10_000
export const DEFAULT_MAX_PER_GROUP = 64

const MINUTE = 60_000
const DAY = 24 * 60 * MINUTE
const RECENT_ATTEMPT_MS = 10 * MINUTE
const FAILURE_HISTORY = 16
const TERRIBLE_UNSEEN_MS = 30 * DAY
const TERRIBLE_ATTEMPTS = 3
const TERRIBLE_FAILURES = 10
const TERRIBLE_FAILURE_WINDOW_MS = 7 * DAY
const RECENCY_HALF_LIFE_MS = 7 * DAY
/** Books up to this size are ranked exactly in best(); larger ones are sampled. */
const EXACT_SELECTION_MAX = 1024
const EVICTION_CACHE_SIZE = 32
const EVICTION_CACHE_TTL_MS = MINUTE

interface Group {
  key: string
  slots: Slot[]
  /** Index in AddressBook.groupList. */
  li: number
}

class Slot {
  peerId: string | undefined
  lastAttempt: number | undefined
  lastSuccess: number | undefined
  attempts = 0
  successes = 0
  failures = 0
  consecutiveFailures = 0
  failureTimes: number[] = []
  /** Index in group.slots; -1 once removed. */
  gi = -1
  constructor(
    public multiaddr: string,
    public source: AddressSource,
    public group: Group,
    public firstSeen: number,
    public lastSeen: number,
  ) {}
}

interface Candidate {
  key: string
  parsed: ParsedAddress
  peerId: string | undefined
  source: AddressSource
}

interface Pending {
  victim: Slot
  candidate: Candidate
  since: number
}

/** (successes + 1) / (successes + failures + 2). */
export function qualityOf(e: { successes: number; failures: number }): number {
  return (e.successes + 1) / (e.successes + e.failures + 2)
}

/** How much an entry is worth keeping: quality x recency of lastSeen x 0.66 per failure since the last success (up to 8). */
export function keepValueOf(
  e: { successes: number; failures: number; lastSeen: number; consecutiveFailures: number },
  now: number,
): number {
  const age = Math.max(0, now - e.lastSeen)
  const recency = Math.max(0.1, 0.5 ** (age / RECENCY_HALF_LIFE_MS))
  return qualityOf(e) * recency * 0.66 ** Math.min(e.consecutiveFailures, 8)
}

/** Selection weight: keep value, x0.01 when tried in the last 10 minutes. */
export function chanceOf(
  e: { successes: number; failures: number; lastSeen: number; consecutiveFailures: number; lastAttempt?: number | undefined },
  now: number,
): number {
  const recent = e.lastAttempt !== undefined && now - e.lastAttempt < RECENT_ATTEMPT_MS
  return keepValueOf(e, now) * (recent ? 0.01 : 1)
}

/** Terrible: not seen for 30 days, or 3+ attempts and never a success, or 10+ failures in the last 7 days. */
export function isTerrible(
  e: { lastSeen: number; attempts: number; successes: number; failureTimes: readonly number[] },
  now: number,
): boolean {
  if (now - e.lastSeen > TERRIBLE_UNSEEN_MS) return true
  if (e.attempts >= TERRIBLE_ATTEMPTS && e.successes === 0) return true
  let recent = 0
  for (const t of e.failureTimes) if (now - t <= TERRIBLE_FAILURE_WINDOW_MS) recent++
  return recent >= TERRIBLE_FAILURES
}

/** 0: terrible (evict first); 1: never succeeded; 2: once succeeded (test before evicting). */
function evictionTier(s: Slot, now: number): number {
  if (isTerrible(s, now)) return 0
  return s.successes === 0 ? 1 : 2
}

interface Ranked {
  slot: Slot
  tier: number
  value: number
}

/** Worse first: lower tier, then lower keep value, then older lastSeen. */
const worseFirst = (a: Ranked, b: Ranked) => a.tier - b.tier || a.value - b.value || a.slot.lastSeen - b.slot.lastSeen

const Time = Type.Number({ minimum: 0 })
const Count = Type.Integer({ minimum: 0 })

/** One saved entry. An entry of another shape is skipped on load, not the whole book. */
const PersistedEntrySchema = Type.Object({
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
  consecutiveFailures: Count,
  failureTimes: Type.Array(Time),
})
type PersistedEntry = Static<typeof PersistedEntrySchema>

/** The file's data: entries stay unchecked here so that one bad entry costs only itself (see restore). */
const PersistedBookSchema = Type.Object({ savedAt: Type.Optional(Type.Number()), entries: Type.Array(Type.Unknown()) })

const addressBookFile = (path: string) =>
  jsonFile({ path, format: ADDRESS_BOOK_FORMAT, version: ADDRESS_BOOK_VERSION, schema: PersistedBookSchema })

export class AddressBook {
  readonly capacity: number
  readonly maxPerGroup: number
  readonly path: string | undefined
  private readonly opts: {
    allowLoopback: boolean
    allowPrivate: boolean
    allowLinkLocal: boolean
    testTimeoutMs: number
    maxPendingTests: number
  }
  private readonly now: () => number
  private readonly random: () => number
  private readonly log: (msg: string) => void

  private readonly slots = new Map<string, Slot>()
  private readonly groups = new Map<string, Group>()
  private readonly groupList: Group[] = []
  private readonly byPeer = new Map<string, Set<Slot>>()
  /** Keyed by the victim's multiaddr. */
  private readonly pending = new Map<string, Pending>()
  private readonly pendingCandidates = new Set<string>()
  private evictionCache: { builtAt: number; ranked: Slot[] } | undefined
  private saving: Promise<void> = Promise.resolve()
  /** Coalesced saves to `path`; changes schedule one only while onSaveError is set (saveOnChange). */
  private readonly writes: CoalescedWrite | undefined
  private onSaveError: ((err: Error) => void) | undefined

  constructor(options: AddressBookOptions = {}) {
    this.capacity = Math.max(1, Math.floor(options.capacity ?? DEFAULT_CAPACITY))
    this.maxPerGroup = Math.max(1, Math.floor(options.maxPerGroup ?? DEFAULT_MAX_PER_GROUP))
    this.path = options.path
    this.opts = {
      allowLoopback: options.allowLoopback ?? false,
      allowPrivate: options.allowPrivate ?? false,
      allowLinkLocal: options.allowLinkLocal ?? false,
      testTimeoutMs: options.testTimeoutMs ?? 60 * MINUTE,
      maxPendingTests: options.maxPendingTests ?? 16,
    }
    this.now = options.now ?? Date.now
    this.random = options.random ?? Math.random
    this.log = options.log ?? ((msg) => console.warn(msg))
    const path = this.path
    this.writes =
      path === undefined
        ? undefined
        : new CoalescedWrite(() => this.writeTo(path), { what: `the address book (${path})`, delayMs: options.saveDelayMs ?? 500 })
  }

  /**
   * From now on every change is saved within about `saveDelayMs` (writes coalesced), so a kill loses
   * at most that much; failures go to `onError`. Returns the function that stops it.
   */
  saveOnChange(onError: (err: Error) => void): () => void {
    this.onSaveError = onError
    return () => {
      if (this.onSaveError === onError) this.onSaveError = undefined
    }
  }

  private changed(): void {
    const onError = this.onSaveError
    if (onError !== undefined) this.writes?.changed().catch(onError)
  }

  get size(): number {
    return this.slots.size
  }

  /** Number of distinct network groups held. */
  get groupCount(): number {
    return this.groupList.length
  }

  /** Add or refresh an address. */
  add(multiaddr: string, options: { peerId?: string; source: AddressSource }): AddResult {
    const now = this.now()
    const c = this.candidate(multiaddr, options.peerId, options.source)
    if (typeof c === 'string') return { added: false, reason: c }

    const existing = this.slots.get(c.key) ?? this.adoptBare(c)
    if (existing !== undefined) {
      this.refresh(existing, c, now)
      this.changed()
      return { added: false, reason: 'exists' }
    }
    this.expirePending(now)
    if (this.pendingCandidates.has(c.key)) return { added: false, reason: 'pending-test' }

    let evicted: string | undefined
    const group = this.groups.get(c.parsed.group)
    if (group !== undefined && group.slots.length >= this.maxPerGroup) {
      const victim = this.worstTerribleIn(group, now)
      if (victim === undefined) return { added: false, reason: 'group-full' }
      evicted = victim.multiaddr
      this.removeSlot(victim)
    }
    if (this.slots.size >= this.capacity) {
      const made = this.makeRoom(c, now)
      if (made.reason !== undefined) return { added: false, reason: made.reason }
      evicted = made.evicted
    }
    this.insert(c, now)
    this.changed()
    return evicted === undefined ? { added: true } : { added: true, evicted }
  }

  /** A snapshot of the entry, or undefined. Accepts a bare address plus its peer id. */
  get(multiaddr: string, peerId?: string): AddressEntry | undefined {
    const s = this.lookup(multiaddr, peerId)
    return s === undefined ? undefined : this.snapshot(s)
  }

  has(multiaddr: string, peerId?: string): boolean {
    return this.lookup(multiaddr, peerId) !== undefined
  }

  /** A dial to this address is starting. Returns false when the address is unknown. */
  markAttempt(multiaddr: string, peerId?: string): boolean {
    const s = this.lookup(multiaddr, peerId)
    if (s === undefined) return false
    s.attempts++
    s.lastAttempt = this.now()
    this.noteChanged(s) // more attempts can make an entry terrible
    this.changed()
    return true
  }

  /** A dial (or a test-before-evict) succeeded. Returns false when the address is unknown. */
  markSuccess(multiaddr: string, peerId?: string): boolean {
    const s = this.lookup(multiaddr, peerId)
    if (s === undefined) return false
    const now = this.now()
    s.successes++
    s.attempts = Math.max(s.attempts, s.successes + s.failures)
    s.lastSuccess = now
    s.lastSeen = now
    s.consecutiveFailures = 0
    const p = this.pending.get(s.multiaddr)
    if (p !== undefined) this.dropPending(p) // it passed its test: keep it, forget the newcomer
    this.changed()
    return true
  }

  /** A dial failed. Returns false when the address is unknown. */
  markFailure(multiaddr: string, peerId?: string): boolean {
    const s = this.lookup(multiaddr, peerId)
    if (s === undefined) return false
    const now = this.now()
    s.failures++
    s.attempts = Math.max(s.attempts, s.successes + s.failures)
    s.consecutiveFailures++
    s.failureTimes.push(now)
    if (s.failureTimes.length > FAILURE_HISTORY) s.failureTimes.splice(0, s.failureTimes.length - FAILURE_HISTORY)
    this.noteChanged(s)
    const p = this.pending.get(s.multiaddr)
    if (p !== undefined) {
      // it failed its test: the newcomer takes its place
      this.dropPending(p)
      this.removeSlot(s)
      this.insertIfRoom(p.candidate, now)
    }
    this.changed()
    return true
  }

  /** Remove an address; a test-before-evict waiting on it resolves in the newcomer's favour. */
  remove(multiaddr: string, peerId?: string): boolean {
    const s = this.lookup(multiaddr, peerId)
    if (s === undefined) return false
    const p = this.pending.get(s.multiaddr)
    if (p !== undefined) this.dropPending(p)
    this.removeSlot(s)
    if (p !== undefined) this.insertIfRoom(p.candidate, this.now())
    this.changed()
    return true
  }

  /** This peer's addresses, best first (highest chance, then most recent success, then most recently seen). */
  forPeer(peerId: string): AddressEntry[] {
    const set = this.byPeer.get(peerId)
    if (set === undefined) return []
    const now = this.now()
    return [...set]
      .map((s) => ({ s, c: chanceOf(s, now) }))
      .sort((a, b) => b.c - a.c || (b.s.lastSuccess ?? 0) - (a.s.lastSuccess ?? 0) || b.s.lastSeen - a.s.lastSeen)
      .map(({ s }) => this.snapshot(s))
  }

  /** Pick up to n addresses to dial (see the module comment for the rules). */
  best(n: number, options: BestOptions = {}): AddressEntry[] {
    const want = Math.floor(n)
    if (!(want > 0)) return []
    const now = this.now()
    if (options.peerId !== undefined) {
      const set = this.byPeer.get(options.peerId)
      if (set === undefined) return []
      const picked = this.exactPick([...set], want, options.perGroup ?? Number.POSITIVE_INFINITY, false, now)
      return picked.map((s) => this.snapshot(s))
    }
    const perGroup = Math.max(1, Math.floor(options.perGroup ?? Math.ceil(want / 4)))
    const picked =
      this.slots.size <= EXACT_SELECTION_MAX
        ? this.exactPick([...this.slots.values()], want, perGroup, true, now)
        : this.sampledPick(want, perGroup, now)
    return picked.map((s) => this.snapshot(s))
  }

  /** Entries in the `addressbook.list` wire shape, highest quality first, then most recently seen. */
  list(limit?: number): AddressBookWireEntry[] {
    const all = [...this.slots.values()].sort((a, b) => qualityOf(b) - qualityOf(a) || b.lastSeen - a.lastSeen)
    const max = limit === undefined ? all.length : Math.max(0, Math.floor(limit))
    return all.slice(0, max).map((s) => {
      const w: AddressBookWireEntry = {
        multiaddr: s.multiaddr,
        source: s.source,
        firstSeen: s.firstSeen,
        lastSeen: s.lastSeen,
        attempts: s.attempts,
        successes: s.successes,
        failures: s.failures,
        quality: Math.round(qualityOf(s) * 1000) / 1000,
      }
      if (s.peerId !== undefined) w.peerId = s.peerId
      return w
    })
  }

  /** Once-good entries waiting for a test dial before they may be evicted. */
  pendingTests(): PendingTest[] {
    this.expirePending(this.now())
    return [...this.pending.values()].map((p) => {
      const t: PendingTest = { multiaddr: p.victim.multiaddr, candidate: p.candidate.key, since: p.since }
      if (p.victim.peerId !== undefined) t.peerId = p.victim.peerId
      return t
    })
  }

  /**
   * Write the book atomically now; resolves once the book as it is now is on disk (saves are
   * serialised). Pending tests are not saved.
   */
  save(path: string | undefined = this.path): Promise<void> {
    if (path === undefined) return Promise.reject(new Error('AddressBook.save: no path given'))
    if (path === this.path && this.writes !== undefined) {
      void this.writes.changed()
      return this.writes.durable({ now: true })
    }
    return this.writeTo(path)
  }

  private writeTo(path: string): Promise<void> {
    const data = { savedAt: this.now(), entries: [...this.slots.values()].map(persistEntry) }
    const run = this.saving.then(() => addressBookFile(path).save(data))
    this.saving = run.catch(() => {})
    return run
  }

  /**
   * Load a book saved by save(). A missing file gives an empty book. A corrupt file (bad JSON,
   * checksum, format, version or shape) is logged, moved aside with quarantine(), and an empty
   * book is returned. Entries the current options refuse (scope, group limit, capacity: the best
   * are kept) are skipped and counted in the log. Other I/O errors are thrown.
   */
  static async load(path: string, options: Omit<AddressBookOptions, 'path'> = {}): Promise<AddressBook> {
    const book = new AddressBook({ ...options, path })
    const data = await addressBookFile(path).loadOrQuarantine({
      what: 'address book',
      instead: 'starting with an empty address book',
      log: book.log,
    })
    if (data === undefined) return book
    const skipped = book.restore(data.entries)
    if (skipped > 0)
      book.log(
        `address book ${path}: skipped ${skipped} of ${data.entries.length} saved entries (invalid, refused by the current options, or over capacity)`,
      )
    return book
  }

  // ---- internals ----

  /** Validate an address for insertion; a string is the refusal reason. */
  private candidate(multiaddr: string, peerId: string | undefined, source: AddressSource): Candidate | AddReason {
    if (!ADDRESS_SOURCES.includes(source)) return 'invalid'
    if (peerId !== undefined && !isPeerIdString(peerId)) return 'invalid'
    const parsed = tryParseAddress(multiaddr)
    if (parsed === undefined) return 'invalid'
    if (parsed.peerId !== undefined && peerId !== undefined && parsed.peerId !== peerId) return 'peer-mismatch'
    switch (parsed.scope) {
      case 'unspecified':
        return 'unspecified'
      case 'reserved':
        return 'reserved'
      case 'loopback':
        if (!this.opts.allowLoopback) return 'loopback'
        break
      case 'private':
        if (!this.opts.allowPrivate) return 'private'
        break
      case 'linkLocal':
        if (!this.opts.allowLinkLocal) return 'link-local'
        break
      case 'public':
        break
    }
    const pid = parsed.peerId ?? peerId
    const key = parsed.peerId === undefined && pid !== undefined ? `${parsed.multiaddr}/p2p/${pid}` : parsed.multiaddr
    return { key, parsed, peerId: pid, source }
  }

  /** A bare entry (no peer id) for the same endpoint takes on the peer id of `c`. */
  private adoptBare(c: Candidate): Slot | undefined {
    if (c.peerId === undefined || c.parsed.peerId !== undefined) return undefined
    const bare = this.slots.get(c.parsed.multiaddr)
    if (bare === undefined || bare.peerId !== undefined || this.pending.has(bare.multiaddr)) return undefined
    this.slots.delete(bare.multiaddr)
    bare.multiaddr = c.key
    this.slots.set(c.key, bare)
    this.setPeer(bare, c.peerId)
    return bare
  }

  private refresh(s: Slot, c: Candidate, now: number): void {
    s.lastSeen = Math.max(s.lastSeen, now)
    if (c.source === 'manual' || c.source === 'pairing') s.source = c.source
  }

  private lookup(multiaddr: string, peerId?: string): Slot | undefined {
    const direct = this.slots.get(multiaddr) ?? (peerId === undefined ? undefined : this.slots.get(`${multiaddr}/p2p/${peerId}`))
    if (direct !== undefined) return direct
    const parsed = tryParseAddress(multiaddr)
    if (parsed === undefined) return undefined
    const s = this.slots.get(parsed.multiaddr)
    if (s !== undefined) return s
    if (parsed.peerId === undefined && peerId !== undefined) return this.slots.get(`${parsed.multiaddr}/p2p/${peerId}`)
    return undefined
  }

  private insert(c: Candidate, now: number): Slot {
    let group = this.groups.get(c.parsed.group)
    if (group === undefined) {
      group = { key: c.parsed.group, slots: [], li: this.groupList.length }
      this.groups.set(group.key, group)
      this.groupList.push(group)
    }
    const s = new Slot(c.key, c.source, group, now, now)
    s.gi = group.slots.length
    group.slots.push(s)
    this.slots.set(c.key, s)
    if (c.peerId !== undefined) this.setPeer(s, c.peerId)
    this.noteChanged(s) // a newcomer may rank below cached once-good entries
    return s
  }

  /** An entry may have become worse (or is new): make it an eviction candidate too. */
  private noteChanged(s: Slot): void {
    const cache = this.evictionCache
    if (cache === undefined) return
    cache.ranked.push(s)
    if (cache.ranked.length > 4 * EVICTION_CACHE_SIZE) this.evictionCache = undefined
  }

  /** Insert a pending newcomer after its victim went away, if the book and its group have room. */
  private insertIfRoom(c: Candidate, now: number): void {
    if (this.slots.has(c.key) || this.slots.size >= this.capacity) return
    const group = this.groups.get(c.parsed.group)
    if (group !== undefined && group.slots.length >= this.maxPerGroup) return
    this.insert(c, now)
  }

  private setPeer(s: Slot, peerId: string): void {
    s.peerId = peerId
    let set = this.byPeer.get(peerId)
    if (set === undefined) {
      set = new Set()
      this.byPeer.set(peerId, set)
    }
    set.add(s)
  }

  private removeSlot(s: Slot): void {
    if (s.gi < 0) return
    this.slots.delete(s.multiaddr)
    const g = s.group
    const last = g.slots.pop() as Slot
    if (last !== s) {
      g.slots[s.gi] = last
      last.gi = s.gi
    }
    s.gi = -1
    if (g.slots.length === 0) {
      this.groups.delete(g.key)
      const lastG = this.groupList.pop() as Group
      if (lastG !== g) {
        this.groupList[g.li] = lastG
        lastG.li = g.li
      }
    }
    if (s.peerId !== undefined) {
      const set = this.byPeer.get(s.peerId)
      set?.delete(s)
      if (set?.size === 0) this.byPeer.delete(s.peerId)
    }
  }

  private worstTerribleIn(group: Group, now: number): Slot | undefined {
    let worst: Ranked | undefined
    for (const slot of group.slots) {
      if (this.pending.has(slot.multiaddr) || !isTerrible(slot, now)) continue
      const r: Ranked = { slot, tier: 0, value: keepValueOf(slot, now) }
      if (worst === undefined || worseFirst(r, worst) < 0) worst = r
    }
    return worst?.slot
  }

  /** Make room for `c` in a full book: evict the worst entry, or open a test-before-evict. */
  private makeRoom(c: Candidate, now: number): { evicted?: string; reason?: AddReason } {
    const victim = this.pickVictim(now)
    if (victim === undefined) return { reason: 'full' }
    if (victim.tier < 2) {
      this.removeSlot(victim.slot)
      return { evicted: victim.slot.multiaddr }
    }
    if (this.pending.size >= this.opts.maxPendingTests) return { reason: 'full' }
    this.pending.set(victim.slot.multiaddr, { victim: victim.slot, candidate: c, since: now })
    this.pendingCandidates.add(c.key)
    return { reason: 'pending-test' }
  }

  /**
   * The worst entry not already under test. A full scan keeps the 32 worst in a cache, so a run of
   * evictions costs one scan. Entries that an attempt or a failure made worse, and new entries,
   * join the cache; successes and refreshes only make entries better; each pick re-ranks the
   * cached entries as of now. The cache is rebuilt after a minute (ageing) or when it has grown
   * to 128 candidates.
   */
  private pickVictim(now: number): Ranked | undefined {
    for (let round = 0; round < 2; round++) {
      const cache = this.evictionCache
      if (cache === undefined || now - cache.builtAt > EVICTION_CACHE_TTL_MS || cache.builtAt > now || round === 1) {
        this.evictionCache = { builtAt: now, ranked: this.scanWorst(now) }
      }
      let best: Ranked | undefined
      for (const slot of (this.evictionCache as { ranked: Slot[] }).ranked) {
        if (slot.gi < 0 || this.pending.has(slot.multiaddr)) continue
        const r: Ranked = { slot, tier: evictionTier(slot, now), value: keepValueOf(slot, now) }
        if (best === undefined || worseFirst(r, best) < 0) best = r
      }
      if (best !== undefined) return best
    }
    return undefined
  }

  private scanWorst(now: number): Slot[] {
    const worst: Ranked[] = []
    for (const slot of this.slots.values()) {
      if (this.pending.has(slot.multiaddr)) continue
      const r: Ranked = { slot, tier: evictionTier(slot, now), value: keepValueOf(slot, now) }
      if (worst.length === EVICTION_CACHE_SIZE) {
        if (worseFirst(r, worst[worst.length - 1] as Ranked) >= 0) continue
        worst.pop()
      }
      let i = worst.length
      while (i > 0 && worseFirst(r, worst[i - 1] as Ranked) < 0) i--
      worst.splice(i, 0, r)
    }
    return worst.map((r) => r.slot)
  }

  private expirePending(now: number): void {
    for (const p of this.pending.values()) {
      if (now - p.since >= this.opts.testTimeoutMs || p.victim.gi < 0) this.dropPending(p)
    }
  }

  private dropPending(p: Pending): void {
    this.pending.delete(p.victim.multiaddr)
    this.pendingCandidates.delete(p.candidate.key)
  }

  /**
   * Exact weighted sampling without replacement (exponential race: key = -ln(u) / weight, smallest
   * first), skipping picks that would break the per-group or one-per-peer limits. The weight is
   * chance divided by the size of the entry's group in the book, matching sampledPick's
   * uniform-group-then-entry draw.
   */
  private exactPick(slots: Slot[], n: number, perGroup: number, onePerPeer: boolean, now: number): Slot[] {
    const keyed = slots.map((s) => {
      const w = chanceOf(s, now) / (onePerPeer ? s.group.slots.length : 1)
      return { s, k: -Math.log(1 - this.random()) / w }
    })
    keyed.sort((a, b) => a.k - b.k)
    const out: Slot[] = []
    const perG = new Map<Group, number>()
    const peers = new Set<string>()
    for (const { s } of keyed) {
      if (out.length >= n) break
      const g = perG.get(s.group) ?? 0
      if (g >= perGroup) continue
      if (onePerPeer && s.peerId !== undefined) {
        if (peers.has(s.peerId)) continue
        peers.add(s.peerId)
      }
      perG.set(s.group, g + 1)
      out.push(s)
    }
    return out
  }

  /**
   * Rejection sampling for large books (expected cost independent of the book size): draw a
   * random group, then a random entry in it, and accept it with probability chance x factor,
   * where factor grows by 1.2 after each rejection so that even poor entries are eventually taken.
   * Gives up after 100 + 50n draws, returning what it has.
   */
  private sampledPick(n: number, perGroup: number, now: number): Slot[] {
    const out: Slot[] = []
    const chosen = new Set<Slot>()
    const perG = new Map<Group, number>()
    const peers = new Set<string>()
    let factor = 1
    const maxDraws = 100 + 50 * n
    for (let draw = 0; draw < maxDraws && out.length < n; draw++) {
      const g = this.groupList[Math.floor(this.random() * this.groupList.length)]
      if (g === undefined) break
      const s = g.slots[Math.floor(this.random() * g.slots.length)]
      if (s === undefined || chosen.has(s)) continue
      const count = perG.get(g) ?? 0
      if (count >= perGroup) continue
      if (s.peerId !== undefined && peers.has(s.peerId)) continue
      if (this.random() >= chanceOf(s, now) * factor) {
        factor *= 1.2
        continue
      }
      factor = 1
      chosen.add(s)
      perG.set(g, count + 1)
      if (s.peerId !== undefined) peers.add(s.peerId)
      out.push(s)
    }
    return out
  }

  private snapshot(s: Slot): AddressEntry {
    const e: AddressEntry = {
      multiaddr: s.multiaddr,
      source: s.source,
      group: s.group.key,
      firstSeen: s.firstSeen,
      lastSeen: s.lastSeen,
      attempts: s.attempts,
      successes: s.successes,
      failures: s.failures,
      consecutiveFailures: s.consecutiveFailures,
      failureTimes: [...s.failureTimes],
      quality: qualityOf(s),
    }
    if (s.peerId !== undefined) e.peerId = s.peerId
    if (s.lastAttempt !== undefined) e.lastAttempt = s.lastAttempt
    if (s.lastSuccess !== undefined) e.lastSuccess = s.lastSuccess
    return e
  }

  /** Re-insert saved entries under the current options; returns how many were skipped. */
  private restore(raw: unknown[]): number {
    const now = this.now()
    const valid: PersistedEntry[] = []
    for (const r of raw) if (Value.Check(PersistedEntrySchema, r)) valid.push(r)
    if (valid.length > this.capacity) {
      valid.sort((a, b) => keepValueOf(b, now) - keepValueOf(a, now))
    }
    let restored = 0
    for (const e of valid) {
      if (this.slots.size >= this.capacity) break
      const c = this.candidate(e.multiaddr, e.peerId, e.source)
      if (typeof c === 'string' || this.slots.has(c.key)) continue
      const group = this.groups.get(c.parsed.group)
      if (group !== undefined && group.slots.length >= this.maxPerGroup) continue
      const s = this.insert(c, now)
      const clamp = (t: number) => Math.min(t, now)
      s.firstSeen = clamp(e.firstSeen)
      s.lastSeen = Math.max(s.firstSeen, clamp(e.lastSeen))
      if (e.lastAttempt !== undefined) s.lastAttempt = clamp(e.lastAttempt)
      if (e.lastSuccess !== undefined) s.lastSuccess = clamp(e.lastSuccess)
      s.successes = e.successes
      s.failures = e.failures
      s.attempts = Math.max(e.attempts, e.successes + e.failures)
      s.consecutiveFailures = Math.min(e.consecutiveFailures, e.failures)
      s.failureTimes = e.failureTimes.slice(-FAILURE_HISTORY).map(clamp)
      restored++
    }
    return raw.length - restored
  }
}

function persistEntry(s: Slot): PersistedEntry {
  const e: PersistedEntry = {
    multiaddr: s.multiaddr,
    source: s.source,
    firstSeen: s.firstSeen,
    lastSeen: s.lastSeen,
    attempts: s.attempts,
    successes: s.successes,
    failures: s.failures,
    consecutiveFailures: s.consecutiveFailures,
    failureTimes: s.failureTimes,
  }
  if (s.peerId !== undefined) e.peerId = s.peerId
  if (s.lastAttempt !== undefined) e.lastAttempt = s.lastAttempt
  if (s.lastSuccess !== undefined) e.lastSuccess = s.lastSuccess
  return e
}
