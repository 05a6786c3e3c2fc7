import { type SwitchboardClient, SwitchboardError } from '../../src/client/switchboard-client.ts'
import type { Core } from '../../src/compose.ts'
import type { PeerState } from '../../src/server/peer-state.ts'

/** The protocol code a rejected call carries. */
export async function codeOf(p: Promise<unknown>): Promise<number> {
  try {
    await p
  } catch (err) {
    if (err instanceof SwitchboardError) return err.code
    throw err
  }
  throw new Error('the call succeeded')
}

/** The dial counters of a daemon's persistent node (`max` may be reset by a test). */
export function dialsOf(d: { core: Core }): { inFlight: number; max: number } {
  const runtime = d.core.nodes.get('peer-a')
  if (!runtime) throw new Error('peer-a is not running')
  return runtime.dials
}

/** Put `to`'s listen addresses in `from`'s address book, as a user or a ticket would. */
export function teachAddress(from: { core: Core }, to: { core: Core; peerId: string }): void {
  for (const addr of to.core.nodes.info('peer-a').addrs) {
    const result = from.core.stores.addressBook.add(addr, { peerId: to.peerId, source: 'manual' })
    if (!result.added && result.reason !== 'exists') throw new Error(`the address book refused ${addr}: ${result.reason}`)
  }
}

/**
 * The `peer.state` pushes of one bound client, per remote peer, in arrival order: a test can wait
 * for a state reached before or after it asked, and check the order of the states a peer went through.
 */
export class PeerStates {
  readonly #pushes = new Map<string, PeerState[]>()
  readonly #latest = new Map<string, PeerState>()
  readonly #waiters = new Set<() => void>()

  private constructor(readonly client: SwitchboardClient) {
    client.on<PeerState>('peer.state', (s) => {
      const list = this.#pushes.get(s.peerId) ?? []
      list.push(s)
      this.#pushes.set(s.peerId, list)
      this.#latest.set(s.peerId, s)
      for (const w of this.#waiters) w()
    })
  }

  /**
   * Start recording, then bind the connection (its first peer call) so the feed starts. The list
   * answered seeds the latest states: pushes that arrive before the answer are newer than it.
   */
  static async bind(client: SwitchboardClient): Promise<PeerStates> {
    const states = new PeerStates(client)
    const { peers } = await client.call<{ peers: PeerState[] }>('peers.list')
    for (const p of peers) if (!states.#latest.has(p.peerId)) states.#latest.set(p.peerId, p)
    return states
  }

  all(peerId: string): PeerState[] {
    return [...(this.#pushes.get(peerId) ?? [])]
  }

  latest(peerId: string): PeerState | undefined {
    return this.#latest.get(peerId)
  }

  /** The statuses pushed, repeats of the same status in a row folded into one. */
  statuses(peerId: string): string[] {
    return this.all(peerId)
      .map((s) => s.status)
      .filter((s, i, list) => i === 0 || list[i - 1] !== s)
  }

  /** Forget what was pushed so far for `peerId`, keeping the latest state for `until`. */
  reset(peerId: string): void {
    this.#pushes.set(peerId, [])
  }

  /** Resolve with the latest state of `peerId` once it satisfies `predicate`. */
  until(peerId: string, predicate: (s: PeerState) => boolean, timeoutMs = 60_000): Promise<PeerState> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const s = this.latest(peerId)
        if (!s || !predicate(s)) return
        this.#waiters.delete(check)
        clearTimeout(timer)
        resolve(s)
      }
      const timer = setTimeout(() => {
        this.#waiters.delete(check)
        reject(
          new Error(
            `peer ${peerId} did not reach the state within ${timeoutMs} ms; pushed: ${JSON.stringify(this.statuses(peerId))}, last ${JSON.stringify(this.latest(peerId))}`,
          ),
        )
      }, timeoutMs)
      this.#waiters.add(check)
      check()
    })
  }

  /** Resolve once a push for `peerId` satisfies `predicate` (any push from now, not just the latest). */
  next(peerId: string, predicate: (s: PeerState) => boolean, timeoutMs = 60_000): Promise<PeerState> {
    return this.client.waitFor<PeerState>('peer.state', (s) => s.peerId === peerId && predicate(s), timeoutMs)
  }
}
