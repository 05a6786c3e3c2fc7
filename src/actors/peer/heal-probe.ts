import { multiaddr } from '@multiformats/multiaddr'

export interface HealProbeOptions {
  /** Pause between two probes starting. */
  intervalMs: number
  /** How long one probe's dial may take (the daemon passes its `dialTimeoutMs`). */
  timeoutMs: number
  /** Probes running at once at most. */
  maxInFlight: number
  /** Peers lost longer ago than this are left to their own backoff. */
  windowMs: number
}

export const HEAL_PROBE_DEFAULTS: HealProbeOptions = { intervalMs: 1_000, timeoutMs: 10_000, maxInFlight: 4, windowMs: 5 * 60_000 }

export interface HealProbeDeps {
  /** libp2p's dial: a probe that connects is an ordinary connection from then on. */
  dial(addr: ReturnType<typeof multiaddr>, opts: { signal: AbortSignal }): Promise<unknown>
  /** The peer's addresses, in the order to dial them (dialOrder of the address book's). */
  addresses(peerId: string): string[]
  /** Tell the address book a probe reached the peer on `addr`. */
  reached(addr: string, peerId: string): void
  /** The status of the peer's actor (its status tag), or undefined when it has none. */
  status(peerId: string): string | undefined
  now(): number
}

/**
 * A partition heals, or a peer's host comes back, without telling anyone: each lost peer's own
 * backoff (capped at 30 s by default) finds out late. So while peers this node had are in backoff,
 * a probe starts every `intervalMs`: a dial of the next of them, round robin, on its first address.
 * A probe that connects moves that peer's actor to connected, and that connection makes every other
 * peer in backoff retry at once (`peer.networkBack`, peer-events.ts). A probe gets the whole dial
 * budget, since a loaded peer may take seconds to answer and an in-flight TCP connect gets through
 * at its next SYN once a link is back; so several run at once (`maxInFlight`), one per peer. A failed
 * probe counts against nothing: it is a question about the network, not about the address. Only
 * peers lost within `windowMs` are probed, so a peer gone for good costs its backoff, not a dial a
 * second.
 */
export class HealProbe {
  /** Peers lost, with when: the next to probe first (a probed peer goes to the back). */
  readonly #lost = new Map<string, number>()
  readonly #probing = new Set<string>()
  #timer: ReturnType<typeof setTimeout> | undefined
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
      if (target !== undefined || status !== 'backoff' || this.#probing.has(peerId)) continue
      if (this.#probing.size >= this.opts.maxInFlight) continue
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
    this.#probing.add(peerId)
    this.probes++
    // a plain timer, cleared when the dial settles: libp2p ties a connection to its dial's signal
    const deadline = new AbortController()
    const timer = setTimeout(() => deadline.abort(new Error(`probe timed out after ${this.opts.timeoutMs} ms`)), this.opts.timeoutMs)
    try {
      const target = addr.includes('/p2p/') ? addr : `${addr}/p2p/${peerId}`
      await this.deps.dial(multiaddr(target), { signal: deadline.signal })
      if (!this.#stopped) this.deps.reached(addr, peerId)
    } catch {
      // still unreachable: the next probe asks the next peer
    } finally {
      clearTimeout(timer)
      this.#probing.delete(peerId)
    }
  }
}
