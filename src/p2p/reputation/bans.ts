/** Ban records (expired ones are dropped when met) and `BanList`, the `reputation.bans` facade. */

export interface Ban {
  peerId: string
  /** Epoch milliseconds. */
  until: number
  reason: string
  createdAt: number
}

export class BanStore {
  private readonly bans = new Map<string, Ban>()

  /** A record exists, even an expired one not yet dropped (what score pruning spares). */
  holds(peerId: string): boolean {
    return this.bans.has(peerId)
  }

  peerIds(): IterableIterator<string> {
    return this.bans.keys()
  }

  /** The active ban of a peer, as a copy; an expired one is dropped here. */
  active(peerId: string, now: number): Ban | undefined {
    const ban = this.bans.get(peerId)
    if (ban === undefined) return undefined
    if (ban.until <= now) {
      this.bans.delete(peerId)
      return undefined
    }
    return { ...ban }
  }

  /** Active bans as copies, soonest to expire first; expired ones are dropped. */
  list(now: number): Ban[] {
    const out: Ban[] = []
    for (const [id, ban] of this.bans) {
      if (ban.until <= now) this.bans.delete(id)
      else out.push({ ...ban })
    }
    return out.sort((a, b) => a.until - b.until)
  }

  set(ban: Ban): void {
    this.bans.set(ban.peerId, ban)
  }

  delete(peerId: string): void {
    this.bans.delete(peerId)
  }

  /** Keep at most `max` records: expired ones go first, then the soonest to expire. */
  bound(now: number, max: number): void {
    if (this.bans.size <= max) return
    for (const [id, ban] of this.bans) if (ban.until <= now) this.bans.delete(id)
    const sorted = [...this.bans.values()].sort((a, b) => a.until - b.until)
    for (const ban of sorted.slice(0, Math.max(0, this.bans.size - max))) this.bans.delete(ban.peerId)
  }
}

/** What BanList needs of its Reputation (an interface, so this file does not import reputation.ts). */
export interface BanAuthority {
  ban(peerId: string, reason: string, ttlSeconds?: number): Ban
  unban(peerId: string): boolean
  activeBans(): Ban[]
  isBanned(peerId: string): boolean
  banOf(peerId: string): Ban | undefined
}

/** The ban list of a Reputation (reached as `reputation.bans`). */
export class BanList {
  constructor(private readonly rep: BanAuthority) {}

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
