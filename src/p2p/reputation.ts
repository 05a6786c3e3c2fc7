/**
 * Peer reputation and bans (identity-centric; endpoints live in address-book.ts).
 *
 * Decisions a caller must know:
 * - A score per peer in [-100, 100] decays toward 0 with a 10-minute half-life, computed lazily
 *   from the time of the last change (injectable `now`). Scores are runtime only; bans and ban
 *   counts are what persists.
 * - `localFailure(peer)`: our own dial timeouts and failures. Costs at most 1 point and never
 *   takes the score below -49, so a bad local network can never ban a good peer. A score already
 *   below -49 (from violations) is left as it is.
 * - `violation(peer, kind, weight?)`: protocol misbehaviour. Default weights: malformed-frame 20,
 *   flood 30, bad-pairing-proof 35, anything else 25 (override per call or with
 *   `violationWeights`). Weights are clamped to [0, 100].
 * - When a violation brings the score to <= -50 the peer is banned, for 1 h on its first ban and
 *   twice as long on each further one (2 h, 4 h, ...), capped at 7 days. The ban count is
 *   forgotten 30 days after the last ban. A peer that is already banned is not banned again.
 * - `bans.add(peer, ttlSeconds?, reason?)`: a manual ban; without a TTL it uses the same escalating
 *   TTL, and it counts as a ban. `bans.remove(peer)` lifts it and resets the score to 0.
 * - `onBan(peerId, until, reason)` (option) and the `ban` event fire on every new ban, automatic or
 *   manual, so the daemon can hang up at once; `unban` fires on `bans.remove`. Expiry is silent:
 *   bans are checked with `isBanned`. Loading a file emits nothing: read `bans.list()` after load.
 * - Persistence is explicit: call `save()` after a ban (e.g. from `onBan`) and at shutdown; it
 *   resolves once a write holding the bans as they were at the call is on disk (saves coalesce: one
 *   in flight, one pending), so a caller may acknowledge a ban only then.
 *   Expired bans are dropped on load; a corrupt file is logged, moved aside and ignored.
 * - Memory is bounded: at most `maxPeers` (10,000) scored peers (the ones nearest 0 go first) and
 *   `maxBans` (10,000) ban records (the soonest to expire go first) and ban counts (oldest first).
 */
import { EventEmitter } from 'node:events'
import { Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { CoalescedWrite } from './coalesced-write.ts'
import { jsonFile } from './json-file.ts'

export const BANS_FORMAT = 'switchboard.bans'
export const BANS_VERSION = 1

export const DEFAULT_VIOLATION_WEIGHTS: Readonly<Record<string, number>> = {
  'malformed-frame': 20,
  flood: 30,
  'bad-pairing-proof': 35,
}
export const DEFAULT_VIOLATION_WEIGHT = 25

export type ViolationKind = 'malformed-frame' | 'flood' | 'bad-pairing-proof' | (string & {})

export interface Ban {
  peerId: string
  /** Epoch milliseconds. */
  until: number
  reason: string
  createdAt: number
}

/** The `reputation.list` wire shape. */
export interface ReputationEntry {
  peerId: string
  /** Current (decayed) score, rounded to 2 decimals. */
  score: number
  /** Local failures recorded for this peer by this process (forgotten if its record is pruned). */
  failures: number
  bannedUntil?: number
}

export interface ReputationEvents {
  ban: [ban: Ban]
  unban: [peerId: string]
}

export interface ReputationOptions {
  now?: () => number
  /** Score half-life (default 10 minutes). */
  halfLifeMs?: number
  /** A violation that brings the score to this or lower bans (default -50). */
  banThreshold?: number
  /** First automatic ban length (default 3600 s); doubles per repeat. */
  baseBanSeconds?: number
  /** Longest automatic ban (default 7 days). */
  maxBanSeconds?: number
  /** Ban count is forgotten this long after the last ban (default 30 days). */
  forgetBansAfterMs?: number
  /** Cost of one local failure, clamped to [0, 1] (default 1). */
  localFailureCost?: number
  violationWeights?: Record<string, number>
  maxPeers?: number
  maxBans?: number
  path?: string
  log?: (msg: string) => void
  onBan?: (peerId: string, until: number, reason: string) => void
}

const MINUTE = 60_000
const DAY = 24 * 60 * MINUTE
/** Longest manual ban we accept: ten years. */
export const MAX_BAN_SECONDS = 10 * 365 * 24 * 3600
/** Local failures alone never take a score below this. */
export const LOCAL_FAILURE_FLOOR = -49

interface PeerScore {
  value: number
  at: number
  failures: number
  violations: number
}

interface BanCount {
  count: number
  lastBanAt: number
}

const Time = Type.Number({ minimum: 0 })

/** One saved ban; a record of another shape is skipped on load, not the whole list. */
const PersistedBanSchema = Type.Object({
  peerId: Type.String({ minLength: 1 }),
  until: Time,
  // older or hand-edited files may lack a reason or hold another type: the ban still stands
  reason: Type.Optional(Type.Unknown()),
  createdAt: Time,
})
const PersistedCountSchema = Type.Object({ peerId: Type.String(), count: Type.Integer({ minimum: 1 }), lastBanAt: Time })

/** The file's data: records stay unchecked here so that one bad record costs only itself (see load). */
const PersistedBansSchema = Type.Object({
  savedAt: Type.Optional(Type.Number()),
  bans: Type.Array(Type.Unknown()),
  counts: Type.Array(Type.Unknown()),
})

const bansFile = (path: string) => jsonFile({ path, format: BANS_FORMAT, version: BANS_VERSION, schema: PersistedBansSchema })

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v))

function checkPeerId(peerId: unknown): asserts peerId is string {
  if (typeof peerId !== 'string' || peerId.length === 0 || peerId.length > 256) {
    throw new TypeError(`invalid peer id ${JSON.stringify(peerId)}`)
  }
}

/** The ban list of a Reputation (reached as `reputation.bans`). */
export class BanList {
  constructor(private readonly rep: Reputation) {}

  /** Ban a peer (manual). Without ttlSeconds the escalating TTL applies. Returns the ban. */
  add(peerId: string, ttlSeconds?: number, reason = 'manual'): Ban {
    return this.rep.ban(peerId, reason, ttlSeconds)
  }

  /** Lift a ban and reset the score to 0. Returns false when the peer was not banned. */
  remove(peerId: string): boolean {
    return this.rep.unban(peerId)
  }

  /** Active bans, soonest to expire first. */
  list(): Ban[] {
    return this.rep.activeBans()
  }

  isBanned(peerId: string): boolean {
    return this.rep.isBanned(peerId)
  }

  get(peerId: string): Ban | undefined {
    return this.rep.banOf(peerId)
  }
}

export class Reputation extends EventEmitter<ReputationEvents> {
  readonly bans: BanList
  readonly path: string | undefined
  private readonly now: () => number
  private readonly halfLifeMs: number
  private readonly banThreshold: number
  private readonly baseBanMs: number
  private readonly maxBanMs: number
  private readonly forgetBansAfterMs: number
  private readonly localFailureCost: number
  private readonly weights: Record<string, number>
  private readonly maxPeers: number
  private readonly maxBans: number
  private readonly log: (msg: string) => void
  private readonly onBan: ((peerId: string, until: number, reason: string) => void) | undefined

  private readonly scores = new Map<string, PeerScore>()
  private readonly banMap = new Map<string, Ban>()
  private readonly counts = new Map<string, BanCount>()
  private readonly writes: CoalescedWrite | undefined

  constructor(options: ReputationOptions = {}) {
    super()
    this.bans = new BanList(this)
    this.path = options.path
    this.now = options.now ?? Date.now
    this.halfLifeMs = options.halfLifeMs ?? 10 * MINUTE
    this.banThreshold = options.banThreshold ?? -50
    this.baseBanMs = (options.baseBanSeconds ?? 3600) * 1000
    this.maxBanMs = (options.maxBanSeconds ?? 7 * 24 * 3600) * 1000
    this.forgetBansAfterMs = options.forgetBansAfterMs ?? 30 * DAY
    this.localFailureCost = clamp(options.localFailureCost ?? 1, 0, 1)
    this.weights = { ...DEFAULT_VIOLATION_WEIGHTS, ...options.violationWeights }
    this.maxPeers = Math.max(1, options.maxPeers ?? 10_000)
    this.maxBans = Math.max(1, options.maxBans ?? 10_000)
    this.log = options.log ?? ((msg) => console.warn(msg))
    this.onBan = options.onBan
    const path = this.path
    this.writes = path === undefined ? undefined : new CoalescedWrite(() => this.writeTo(path), { what: `the ban list (${path})` })
  }

  /** The current score (0 for an unknown peer). */
  score(peerId: string): number {
    const s = this.scores.get(peerId)
    return s === undefined ? 0 : this.decayed(s, this.now())
  }

  /** Our own dial to this peer failed or timed out. Returns the new score. */
  localFailure(peerId: string): number {
    checkPeerId(peerId)
    const now = this.now()
    const s = this.touch(peerId, now)
    s.failures++
    if (s.value > LOCAL_FAILURE_FLOOR) s.value = Math.max(LOCAL_FAILURE_FLOOR, s.value - this.localFailureCost)
    return s.value
  }

  /** The peer broke the protocol. Returns the new score; bans when it reaches the threshold. */
  violation(peerId: string, kind: ViolationKind, weight?: number): number {
    checkPeerId(peerId)
    const now = this.now()
    const cost = clamp(weight ?? this.weights[kind] ?? DEFAULT_VIOLATION_WEIGHT, 0, 100)
    const s = this.touch(peerId, now)
    s.violations++
    s.value = Math.max(-100, s.value - cost)
    if (s.value <= this.banThreshold && !this.isBanned(peerId)) {
      this.ban(peerId, `score ${Math.round(s.value)} after ${kind}`)
    }
    return s.value
  }

  /** Good behaviour. Returns the new score. */
  reward(peerId: string, n = 1): number {
    checkPeerId(peerId)
    const s = this.touch(peerId, this.now())
    s.value = Math.min(100, s.value + clamp(n, 0, 200))
    return s.value
  }

  isBanned(peerId: string): boolean {
    return this.banOf(peerId) !== undefined
  }

  /** For `reputation.list`: every scored or banned peer, lowest score first. */
  list(): ReputationEntry[] {
    const now = this.now()
    const ids = new Set<string>([...this.scores.keys(), ...this.banMap.keys()])
    const out: ReputationEntry[] = []
    for (const peerId of ids) {
      const s = this.scores.get(peerId)
      const e: ReputationEntry = {
        peerId,
        score: s === undefined ? 0 : Math.round(this.decayed(s, now) * 100) / 100,
        failures: s?.failures ?? 0,
      }
      const ban = this.banOf(peerId)
      if (ban !== undefined) e.bannedUntil = ban.until
      out.push(e)
    }
    return out.sort((a, b) => a.score - b.score || a.peerId.localeCompare(b.peerId))
  }

  /** How many times this peer has been banned (within the forgetting window). */
  banCount(peerId: string): number {
    const c = this.counts.get(peerId)
    if (c === undefined) return 0
    if (this.now() - c.lastBanAt > this.forgetBansAfterMs) {
      this.counts.delete(peerId)
      return 0
    }
    return c.count
  }

  /** Ban a peer now. Used by violations and by `bans.add`; prefer those. */
  ban(peerId: string, reason: string, ttlSeconds?: number): Ban {
    checkPeerId(peerId)
    if (ttlSeconds !== undefined && !(Number.isFinite(ttlSeconds) && ttlSeconds > 0 && ttlSeconds <= MAX_BAN_SECONDS)) {
      throw new RangeError(`ttlSeconds must be in (0, ${MAX_BAN_SECONDS}], got ${ttlSeconds}`)
    }
    const now = this.now()
    const previous = this.banCount(peerId)
    const ttlMs = ttlSeconds !== undefined ? ttlSeconds * 1000 : Math.min(this.maxBanMs, this.baseBanMs * 2 ** previous)
    const existing = this.banOf(peerId)
    const ban: Ban = {
      peerId,
      until: Math.max(now + ttlMs, existing?.until ?? 0),
      reason: String(reason).slice(0, 200),
      createdAt: now,
    }
    this.banMap.set(peerId, ban)
    this.counts.set(peerId, { count: previous + 1, lastBanAt: now })
    this.boundBans()
    try {
      this.onBan?.(peerId, ban.until, ban.reason)
    } catch (err) {
      this.log(`reputation: onBan callback threw: ${(err as Error).message}`)
    }
    this.emit('ban', { ...ban })
    return { ...ban }
  }

  /** Lift a ban and reset the score to 0. */
  unban(peerId: string): boolean {
    const had = this.banOf(peerId) !== undefined
    this.banMap.delete(peerId)
    const s = this.scores.get(peerId)
    if (s !== undefined) {
      s.value = 0
      s.at = this.now()
    }
    if (had) this.emit('unban', peerId)
    return had
  }

  /** The active ban of a peer, if any (expired ones are dropped here). */
  banOf(peerId: string): Ban | undefined {
    const ban = this.banMap.get(peerId)
    if (ban === undefined) return undefined
    if (ban.until <= this.now()) {
      this.banMap.delete(peerId)
      return undefined
    }
    return { ...ban }
  }

  activeBans(): Ban[] {
    const now = this.now()
    const out: Ban[] = []
    for (const [id, ban] of this.banMap) {
      if (ban.until <= now) this.banMap.delete(id)
      else out.push({ ...ban })
    }
    return out.sort((a, b) => a.until - b.until)
  }

  /** Write active bans and ban counts atomically; resolves once what they are now is on disk. */
  save(path: string | undefined = this.path): Promise<void> {
    if (path === undefined) return Promise.reject(new Error('Reputation.save: no path given'))
    if (path === this.path && this.writes !== undefined) return this.writes.changed()
    return this.writeTo(path)
  }

  private writeTo(path: string): Promise<void> {
    const now = this.now()
    const data = {
      savedAt: now,
      bans: this.activeBans(),
      counts: [...this.counts]
        .filter(([, c]) => now - c.lastBanAt <= this.forgetBansAfterMs)
        .map(([peerId, c]) => ({ peerId, count: c.count, lastBanAt: c.lastBanAt })),
    }
    return bansFile(path).save(data)
  }

  /**
   * Load bans saved by save(): expired bans are dropped, ban counts kept. A missing file gives
   * an empty list; a corrupt one is logged, moved aside with quarantine(), and ignored. Other I/O
   * errors are thrown.
   */
  static async load(path: string, options: Omit<ReputationOptions, 'path'> = {}): Promise<Reputation> {
    const rep = new Reputation({ ...options, path })
    const data = await bansFile(path).loadOrQuarantine({ what: 'ban list', instead: 'starting with no bans', log: rep.log })
    if (data === undefined) return rep
    const now = rep.now()
    let skipped = 0
    for (const c of data.counts) {
      if (!Value.Check(PersistedCountSchema, c)) {
        skipped++
        continue
      }
      if (now - c.lastBanAt > rep.forgetBansAfterMs) continue
      rep.counts.set(c.peerId, { count: c.count, lastBanAt: Math.min(c.lastBanAt, now) })
    }
    for (const b of data.bans) {
      if (!Value.Check(PersistedBanSchema, b)) {
        skipped++
        continue
      }
      if (b.until <= now) continue // expired while we were down
      rep.banMap.set(b.peerId, {
        peerId: b.peerId,
        until: b.until,
        reason: typeof b.reason === 'string' ? b.reason : '',
        createdAt: b.createdAt,
      })
    }
    rep.boundBans()
    if (skipped > 0) rep.log(`ban list ${path}: skipped ${skipped} malformed records`)
    return rep
  }

  // ---- internals ----

  private decayed(s: PeerScore, now: number): number {
    const dt = Math.max(0, now - s.at)
    return s.value * 0.5 ** (dt / this.halfLifeMs)
  }

  /** The peer's record with its value brought up to `now`. */
  private touch(peerId: string, now: number): PeerScore {
    let s = this.scores.get(peerId)
    if (s === undefined) {
      s = { value: 0, at: now, failures: 0, violations: 0 }
      this.scores.set(peerId, s)
      if (this.scores.size > this.maxPeers) this.prune(now, peerId)
    } else {
      s.value = this.decayed(s, now)
      s.at = now
    }
    return s
  }

  /** Drop the scored peers nearest 0 (never `keep` or a banned one) down to 90% of maxPeers. */
  private prune(now: number, keep: string): void {
    const target = Math.floor(this.maxPeers * 0.9)
    const ranked = [...this.scores]
      .filter(([id]) => id !== keep && !this.banMap.has(id))
      .map(([id, s]) => ({ id, mag: Math.abs(this.decayed(s, now)) }))
      .sort((a, b) => a.mag - b.mag)
    for (const { id } of ranked) {
      if (this.scores.size <= target) break
      this.scores.delete(id)
    }
  }

  private boundBans(): void {
    const now = this.now()
    if (this.banMap.size > this.maxBans) {
      for (const [id, ban] of this.banMap) if (ban.until <= now) this.banMap.delete(id)
      const sorted = [...this.banMap.values()].sort((a, b) => a.until - b.until)
      for (const ban of sorted.slice(0, Math.max(0, this.banMap.size - this.maxBans))) this.banMap.delete(ban.peerId)
    }
    if (this.counts.size > this.maxBans) {
      const oldest = [...this.counts].sort((a, b) => a[1].lastBanAt - b[1].lastBanAt)
      for (const [id] of oldest.slice(0, this.counts.size - this.maxBans)) this.counts.delete(id)
    }
  }
}
