import { OperationFailedError } from '../errors.ts'

/** A save that failed; the message names what could not be saved and why. */
export class SaveError extends OperationFailedError {
  override name = 'SaveError'
}

interface Waiters {
  promise: Promise<void>
  resolve(): void
  reject(err: Error): void
}

function waiters(): Waiters {
  let resolve!: () => void
  let reject!: (err: Error) => void
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  // a fire-and-forget change must not turn a failed save into an unhandled rejection: every caller
  // that awaits still sees it
  promise.catch(() => {})
  return { promise, resolve, reject }
}

export interface CoalescedWriteOptions {
  /** Names the file in errors: "cannot save <what>: ...". */
  what: string
  /** Wait this long after a change before writing, so a burst of changes costs one write (default 0: the same tick). */
  delayMs?: number
}

/**
 * Saves of one file, coalesced: one write in flight and at most one pending. Each change resolves
 * once a write that began after it has landed, so the caller may acknowledge it; `write` snapshots
 * the state when it starts. A failed write rejects its waiters (and the next change tries again).
 */
export class CoalescedWrite {
  #version = 0
  #landed = 0
  #inFlight = false
  /** The write in progress (after its delay): the version it includes and who waits for it. */
  #current: { version: number; waiters: Waiters | undefined } | undefined
  #next: Waiters | undefined
  /** Ends the delay of the write about to start. */
  #hurry: (() => void) | undefined
  /** The next write starts without its delay (asked for while another was in flight). */
  #urgent = false

  constructor(
    private readonly write: () => Promise<void>,
    private readonly opts: CoalescedWriteOptions,
  ) {}

  /** No write is in flight or waiting. */
  get idle(): boolean {
    return !this.#inFlight && this.#next === undefined
  }

  /** Record a change; resolves once it is on disk. */
  changed(): Promise<void> {
    this.#version++
    return this.durable()
  }

  /**
   * Resolves once every change recorded so far is on disk (at once when none is pending). `now`
   * cuts short the delay of a write that waits (at shutdown).
   */
  durable(opts: { now?: boolean } = {}): Promise<void> {
    if (this.#landed >= this.#version) return Promise.resolve()
    if (opts.now) {
      // the write waiting for its delay starts at once, or else the next one does
      if (this.#hurry) this.#hurry()
      else this.#urgent = true
    }
    const current = this.#current
    if (current !== undefined && current.version >= this.#version) {
      current.waiters ??= waiters()
      return current.waiters.promise
    }
    this.#next ??= waiters()
    const next = this.#next
    if (!this.#inFlight) void this.#run()
    return next.promise
  }

  async #run(): Promise<void> {
    this.#inFlight = true
    const now = this.#urgent
    this.#urgent = false
    // changes made in the same tick (or within delayMs) join this write
    await new Promise<void>((resolve) => {
      const timer = this.opts.delayMs && !now ? setTimeout(resolve, this.opts.delayMs) : setImmediate(resolve)
      this.#hurry = () => {
        clearTimeout(timer as NodeJS.Timeout)
        clearImmediate(timer as NodeJS.Immediate)
        resolve()
      }
    })
    this.#hurry = undefined
    const current: { version: number; waiters: Waiters | undefined } = { version: this.#version, waiters: this.#next }
    this.#current = current
    this.#next = undefined
    try {
      await this.write()
      this.#landed = Math.max(this.#landed, current.version)
      current.waiters?.resolve()
    } catch (err) {
      current.waiters?.reject(new SaveError(`cannot save ${this.opts.what}: ${(err as Error).message}`))
    } finally {
      this.#current = undefined
      this.#inFlight = false
      if (this.#next !== undefined) void this.#run()
    }
  }
}
