import { multiaddr } from '@multiformats/multiaddr'

export interface HealProbeOptions {
  /** Pause between probes. */
  intervalMs: number
  /** How long one probe's dial may take. */
  timeoutMs: number
  /** Peers lost longer ago than this are left to their own backoff. */
  windowMs: number
}

export const HEAL_PROBE_DEFAULTS: HealProbeOptions = { intervalMs: 1_000, timeoutMs: 2_000, windowMs: 5 * 60_000 }

export interface HealProbeDeps {
  /** libp2p's dial: a probe that connects is an ordinary connection from then on. */
  dial(addr: ReturnType<typeof multiaddr>, opts: { signal: AbortSignal }): Promise<unknown>
  /** The peer's addresses, best first (the address book's `forPeer`). */
  addresses(peerId: string): string[]
  /** Tell the address book a probe reached the peer on `addr`. */
  reached(addr: string, peerId: string): void
  /** The status of the peer's actor (its status tag), or undefined when it has none. */
  status(peerId: string): string | undefined
  now(): number
}

/**
 * A partition heals, or a link comes back, without telling anyone: each lost peer's own backoff
 * (capped at 30 s by default) finds out late. So while peers this node had are in backoff, it
 * dials one of them each `intervalMs`, round robin, on its best address with a short timeout, one
 * probe at a time. A probe that connects moves that peer's actor to connected, and that connection
 * makes every other peer in backoff retry at once (`peer.networkBack`, peer-events.ts). A failed
 * probe counts against nothing: it is a question about the network, not about the address. Only
 * peers lost within `windowMs` are probed, so a peer gone for good costs its backoff, not a dial a
 * second.
 */
export class HealProbe {
  /** Peers lost, with when: oldest probe first (a probed peer goes to the back). */
  readonly #lost = new Map<string, number>()
  #timer: ReturnType<typeof setTimeout> | undefined
  #inFlight = false
  #stopped = false
  /** Probes started, for tests and the curious. */
  probes = 0

  constructor(
    private readonly deps: HealProbeDeps,
    private readonly opts: HealProbeOptions = HEAL_PROBE_DEFAULTS,
  ) {}

  /** A peer disconnected: probe it while its actor is in backoff. */
  lost(peerId: string): void {
    if (this.#stopped) return
    this.#lost.delete(peerId)
    this.#lost.set(peerId, this.deps.now())
    this.#schedule()
  }

  stop(): void {
    this.#stopped = true
    clearTimeout(this.#timer)
    this.#lost.clear()
  }

  #schedule(): void {
    if (this.#timer === undefined && !this.#stopped && this.#lost.size > 0) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined
        this.#tick()
      }, this.opts.intervalMs)
      this.#timer.unref?.()
    }
  }

  #tick(): void {
    const now = this.deps.now()
    let target: { peerId: string; addr: string } | undefined
    for (const [peerId, at] of this.#lost) {
      const status = this.deps.status(peerId)
      // back, given up, forgotten, or lost too long ago: nothing more to learn from it (connecting: a retry runs)
      if ((status !== 'backoff' && status !== 'connecting') || now - at > this.opts.windowMs) {
        this.#lost.delete(peerId)
        continue
      }
      if (target !== undefined || this.#inFlight || status !== 'backoff') continue
      const addr = this.deps.addresses(peerId)[0]
      if (addr !== undefined) target = { peerId, addr }
    }
    if (target !== undefined) void this.#probe(target.peerId, target.addr)
    this.#schedule()
  }

  async #probe(peerId: string, addr: string): Promise<void> {
    // to the back of the line: the next probe asks another peer
    const at = this.#lost.get(peerId)
    this.#lost.delete(peerId)
    if (at !== undefined) this.#lost.set(peerId, at)
    this.#inFlight = true
    this.probes++
    const deadline = new AbortController()
    const timer = setTimeout(() => deadline.abort(new Error(`probe timed out after ${this.opts.timeoutMs} ms`)), this.opts.timeoutMs)
    try {
      const target = addr.includes('/p2p/') ? addr : `${addr}/p2p/${peerId}`
      await this.deps.dial(multiaddr(target), { signal: deadline.signal })
      if (!this.#stopped) this.deps.reached(addr, peerId)
    } catch {
      // still unreachable: the next tick asks the next peer
    } finally {
      clearTimeout(timer)
      this.#inFlight = false
    }
  }
}
