/**
 * Peer reputation and bans (identity-centric; endpoints live in address-book.ts). The parts live beside this
 * file: scores.ts (decaying scores), bans.ts (ban records and `reputation.bans`), escalation.ts
 * (ban counts and TTLs) and bans-file.ts (the file).
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
import { CoalescedWrite } from '../coalesced-write.ts'
import { type Ban, BanList, BanStore } from './bans.ts'
import { BANS_FORMAT, BANS_VERSION, bansFile, readBansFile } from './bans-file.ts'
import { BanCounts, escalatedTtlMs } from './escalation.ts'
import { LOCAL_FAILURE_FLOOR, ScoreTable } from './scores.ts'

export { BANS_FORMAT, BANS_VERSION, LOCAL_FAILURE_FLOOR }

export const DEFAULT_VIOLATION_WEIGHTS: Readonly<Record<string, number>> = {
  'malformed-frame': 20,
  flood: 30,
  'bad-pairing-proof': 35,
}
export const DEFAULT_VIOLATION_WEIGHT = 25

export type ViolationKind = 'malformed-frame' | 'flood' | 'bad-pairing-proof' | (string & {})

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

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v))

function checkPeerId(peerId: unknown): asserts peerId is string {
  if (typeof peerId !== 'string' || peerId.length === 0 || peerId.length > 256) {
    throw new TypeError(`invalid peer id ${JSON.stringify(peerId)}`)
  }
}

export class Reputation extends EventEmitter<ReputationEvents> {
  readonly bans: BanList
  readonly path: string | undefined
  private readonly now: () => number
  private readonly banThreshold: number
  private readonly baseBanMs: number
  private readonly maxBanMs: number
  private readonly localFailureCost: number
  private readonly weights: Record<string, number>
  private readonly maxBans: number
  private readonly log: (msg: string) => void
  private readonly onBan: ((peerId: string, until: number, reason: string) => void) | undefined

  private readonly banStore = new BanStore()
  private readonly scores: ScoreTable
  private readonly counts: BanCounts
  private readonly writes: CoalescedWrite | undefined

  constructor(options: ReputationOptions = {}) {
    super()
    this.bans = new BanList(this)
    this.path = options.path
    this.now = options.now ?? Date.now
    this.banThreshold = options.banThreshold ?? -50
    this.baseBanMs = (options.baseBanSeconds ?? 3600) * 1000
    this.maxBanMs = (options.maxBanSeconds ?? 7 * 24 * 3600) * 1000
    this.localFailureCost = clamp(options.localFailureCost ?? 1, 0, 1)
    this.weights = { ...DEFAULT_VIOLATION_WEIGHTS, ...options.violationWeights }
    this.maxBans = Math.max(1, options.maxBans ?? 10_000)
    this.log = options.log ?? ((msg) => console.warn(msg))
    this.onBan = options.onBan
    this.scores = new ScoreTable(options.halfLifeMs ?? 10 * MINUTE, Math.max(1, options.maxPeers ?? 10_000), (id) =>
      this.banStore.holds(id),
    )
    this.counts = new BanCounts(options.forgetBansAfterMs ?? 30 * DAY)
    const path = this.path
    this.writes = path === undefined ? undefined : new CoalescedWrite(() => this.writeTo(path), { what: `the ban list (${path})` })
  }

  /** The current score (0 for an unknown peer). */
  score(peerId: string): number {
    return this.scores.valueAt(peerId, this.now())
  }

  /** Our own dial to this peer failed or timed out. Returns the new score. */
  localFailure(peerId: string): number {
    checkPeerId(peerId)
    return this.scores.localFailure(peerId, this.now(), this.localFailureCost)
  }

  /** The peer broke the protocol. Returns the new score; bans when it reaches the threshold. */
  violation(peerId: string, kind: ViolationKind, weight?: number): number {
    checkPeerId(peerId)
    const cost = clamp(weight ?? this.weights[kind] ?? DEFAULT_VIOLATION_WEIGHT, 0, 100)
    const value = this.scores.violation(peerId, this.now(), cost)
    if (value <= this.banThreshold && !this.isBanned(peerId)) {
      this.ban(peerId, `score ${Math.round(value)} after ${kind}`)
    }
    return value
  }

  /** Good behaviour. Returns the new score. */
  reward(peerId: string, n = 1): number {
    checkPeerId(peerId)
    return this.scores.reward(peerId, this.now(), clamp(n, 0, 200))
  }

  isBanned(peerId: string): boolean {
    return this.banOf(peerId) !== undefined
  }

  /** For `reputation.list`: every scored or banned peer, lowest score first. */
  list(): ReputationEntry[] {
    const now = this.now()
    const ids = new Set<string>([...this.scores.peerIds(), ...this.banStore.peerIds()])
    const out: ReputationEntry[] = []
    for (const peerId of ids) {
      const s = this.scores.get(peerId)
      const e: ReputationEntry = {
        peerId,
        score: s === undefined ? 0 : Math.round(this.scores.decayed(s, now) * 100) / 100,
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
    return this.counts.count(peerId, this.now())
  }

  /** Ban a peer now. Used by violations and by `bans.add`; prefer those. */
  ban(peerId: string, reason: string, ttlSeconds?: number): Ban {
    checkPeerId(peerId)
    if (ttlSeconds !== undefined && !(Number.isFinite(ttlSeconds) && ttlSeconds > 0 && ttlSeconds <= MAX_BAN_SECONDS)) {
      throw new RangeError(`ttlSeconds must be in (0, ${MAX_BAN_SECONDS}], got ${ttlSeconds}`)
    }
    const now = this.now()
    const previous = this.banCount(peerId)
    const ttlMs = ttlSeconds !== undefined ? ttlSeconds * 1000 : escalatedTtlMs(previous, this.baseBanMs, this.maxBanMs)
    const existing = this.banOf(peerId)
    const ban: Ban = {
      peerId,
      until: Math.max(now + ttlMs, existing?.until ?? 0),
      reason: String(reason).slice(0, 200),
      createdAt: now,
    }
    this.banStore.set(ban)
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
    this.banStore.delete(peerId)
    this.scores.reset(peerId, this.now())
    if (had) this.emit('unban', peerId)
    return had
  }

  /** The active ban of a peer, if any (expired ones are dropped here). */
  banOf(peerId: string): Ban | undefined {
    return this.banStore.active(peerId, this.now())
  }

  activeBans(): Ban[] {
    return this.banStore.list(this.now())
  }

  /** Write active bans and ban counts atomically; resolves once what they are now is on disk. */
  save(path: string | undefined = this.path): Promise<void> {
    if (path === undefined) return Promise.reject(new Error('Reputation.save: no path given'))
    if (path === this.path && this.writes !== undefined) return this.writes.changed()
    return this.writeTo(path)
  }

  private writeTo(path: string): Promise<void> {
    const now = this.now()
    return bansFile(path).save({ savedAt: now, bans: this.activeBans(), counts: this.counts.live(now) })
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
    const { bans, counts, skipped } = readBansFile(data, rep.now(), rep.counts.forgetAfterMs)
    for (const { peerId, ...c } of counts) rep.counts.set(peerId, c)
    for (const ban of bans) rep.banStore.set(ban)
    rep.boundBans()
    if (skipped > 0) rep.log(`ban list ${path}: skipped ${skipped} malformed records`)
    return rep
  }

  private boundBans(): void {
    this.banStore.bound(this.now(), this.maxBans)
    this.counts.bound(this.maxBans)
  }
}
