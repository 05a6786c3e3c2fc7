export type ActivityType = 'info' | 'peer_joined' | 'peer_left' | 'error'

/** protocol.md `activity` push, plus the local peer it concerns. */
export interface Activity {
  type: ActivityType
  alias: string
  peerId?: string
  message: string
  at: number
}

/** The last `capacity` activities of the daemon, kept as a ring and pushed live to listeners. */
export class ActivityLog {
  readonly #ring: Activity[] = []
  readonly #listeners = new Set<(a: Activity) => void>()

  constructor(readonly capacity = 500) {}

  add(entry: Omit<Activity, 'at'> & { at?: number }): Activity {
    const a: Activity = { ...entry, at: entry.at ?? Date.now() }
    this.#ring.push(a)
    if (this.#ring.length > this.capacity) this.#ring.shift()
    for (const fn of this.#listeners) fn(a)
    return a
  }

  list(alias?: string, limit = this.capacity): Activity[] {
    // daemon-wide entries ('*', e.g. bans) belong to every local peer's feed
    const all = alias === undefined ? this.#ring : this.#ring.filter((a) => a.alias === alias || a.alias === '*')
    return all.slice(-limit)
  }

  listen(fn: (a: Activity) => void): () => void {
    this.#listeners.add(fn)
    return () => this.#listeners.delete(fn)
  }
}
