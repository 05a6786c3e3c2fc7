import type { Connection, Libp2p } from '@libp2p/interface'
import type { Watermarks } from './watermarks.ts'

export interface PrunerOptions extends Watermarks {
  /** Never closed: added and known peers. */
  isProtected(peerId: string): boolean
  /** Told after each round that closed something. */
  onPruned?(closed: Connection[], kept: { protected: number; young: number }): void
  now?: () => number
}

/** What one round decided; exported for the unit test of the ordering. */
export interface PrunePlan {
  close: Connection[]
  protectedCount: number
  young: number
  /** When the youngest spared connection leaves its grace period (epoch ms), if any was spared. */
  nextEligibleAt?: number
}

/**
 * Which connections to close to get from `connections.length` down to `low`: never a protected
 * peer's, never one younger than the grace period; among the rest the lowest-value peers first
 * (sum of peer-store tag values), then fewer streams, inbound before outbound, newest first.
 */
export function planPrune(connections: Connection[], values: Map<string, number>, opts: PrunerOptions, now: number): PrunePlan {
  const excess = connections.length - opts.low
  let protectedCount = 0
  let young = 0
  let nextEligibleAt: number | undefined
  const candidates: Connection[] = []
  for (const c of connections) {
    if (opts.isProtected(c.remotePeer.toString())) {
      protectedCount++
      continue
    }
    const matureAt = c.timeline.open + opts.graceMs
    if (matureAt > now) {
      young++
      nextEligibleAt = Math.min(nextEligibleAt ?? matureAt, matureAt)
      continue
    }
    candidates.push(c)
  }
  const value = (c: Connection) => values.get(c.remotePeer.toString()) ?? 0
  candidates.sort(
    (a, b) =>
      value(a) - value(b) ||
      a.streams.length - b.streams.length ||
      Number(a.direction === 'outbound') - Number(b.direction === 'outbound') ||
      b.timeline.open - a.timeline.open,
  )
  return {
    close: candidates.slice(0, Math.max(0, excess)),
    protectedCount,
    young,
    ...(nextEligibleAt !== undefined ? { nextEligibleAt } : {}),
  }
}

/**
 * Our connection pruner (js-libp2p 3 has no Protect): on every new connection above the high
 * watermark it closes the lowest-value unprotected connections down to the low watermark. Rounds
 * never overlap; a connection spared for its youth is looked at again when its grace ends.
 */
export class ConnectionPruner {
  #running = false
  #again = false
  #timer: NodeJS.Timeout | undefined
  #stopped = false
  /** Connections this pruner has closed since it started. */
  pruned = 0
  readonly #onOpen = () => this.check()

  constructor(
    private readonly libp2p: Libp2p,
    private readonly opts: PrunerOptions,
  ) {
    libp2p.addEventListener('connection:open', this.#onOpen)
  }

  check(): void {
    if (this.#stopped || this.libp2p.getConnections().length <= this.opts.high) return
    if (this.#running) {
      this.#again = true
      return
    }
    this.#running = true
    void this.#rounds().finally(() => {
      this.#running = false
    })
  }

  async #rounds(): Promise<void> {
    do {
      this.#again = false
      await this.#round().catch(() => {})
    } while (this.#again && !this.#stopped)
  }

  async #round(): Promise<void> {
    const connections = this.libp2p.getConnections().filter((c) => c.status === 'open')
    if (connections.length <= this.opts.high) return
    const values = new Map<string, number>()
    for (const c of connections) {
      const id = c.remotePeer.toString()
      if (values.has(id)) continue
      const peer = await this.libp2p.peerStore.get(c.remotePeer).catch(() => undefined)
      values.set(
        id,
        [...(peer?.tags.values() ?? [])].reduce((sum, t) => sum + t.value, 0),
      )
    }
    const plan = planPrune(connections, values, this.opts, (this.opts.now ?? Date.now)())
    if (plan.nextEligibleAt !== undefined) this.#recheckAt(plan.nextEligibleAt)
    if (plan.close.length === 0) return
    await Promise.all(
      plan.close.map(async (c) => {
        try {
          await c.close({ signal: AbortSignal.timeout(1000) })
        } catch (err) {
          c.abort(err as Error)
        }
      }),
    )
    this.pruned += plan.close.length
    this.opts.onPruned?.(plan.close, { protected: plan.protectedCount, young: plan.young })
  }

  #recheckAt(at: number): void {
    if (this.#timer || this.#stopped) return
    const delay = Math.max(0, at - (this.opts.now ?? Date.now)()) + 10
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.check()
    }, delay)
    this.#timer.unref?.()
  }

  stop(): void {
    this.#stopped = true
    clearTimeout(this.#timer)
    this.libp2p.removeEventListener('connection:open', this.#onOpen)
  }
}
