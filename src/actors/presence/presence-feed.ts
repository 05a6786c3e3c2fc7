import type { Presence } from '../../p2p/presence-record.ts'

/**
 * Daemon-wide: each local node's online list as it changes, for the `presence.update` pushes.
 * Outlives the nodes, so a session bound to a node that restarts keeps its feed.
 */
export class PresenceFeed {
  readonly #listeners = new Set<(alias: string, online: Presence[]) => void>()

  emit(alias: string, online: Presence[]): void {
    for (const fn of this.#listeners) fn(alias, online)
  }

  /** Changes of `alias`'s list; returns the function that stops listening. */
  listen(alias: string, fn: (online: Presence[]) => void): () => void {
    const wrapped = (a: string, online: Presence[]) => {
      if (a === alias) fn(online)
    }
    this.#listeners.add(wrapped)
    return () => this.#listeners.delete(wrapped)
  }
}
