import { setMaxListeners } from 'node:events'

/**
 * A signal that aborts after `ms` without progress: a transfer that keeps moving is never cut, one
 * that stalls (no block found, a silent peer) is. `touch()` counts as progress.
 */
export class IdleDeadline {
  readonly #controller = new AbortController()
  readonly signal: AbortSignal
  #timer: NodeJS.Timeout | undefined

  constructor(
    readonly ms: number,
    readonly what: string,
    parent?: AbortSignal,
  ) {
    this.signal = parent === undefined ? this.#controller.signal : AbortSignal.any([parent, this.#controller.signal])
    // every block a fetch waits for listens on it (hundreds in flight for a large file)
    setMaxListeners(0, this.signal)
    this.touch()
  }

  touch(): void {
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      const err = new Error(`${this.what}: no progress for ${this.ms} ms`)
      err.name = 'TimeoutError'
      this.#controller.abort(err)
    }, this.ms)
    this.#timer.unref?.()
  }

  clear(): void {
    clearTimeout(this.#timer)
  }
}

/** `parent` and a timeout of `ms`, whichever fires first; the timeout's reason is a TimeoutError naming `what`. */
export function deadline(ms: number, what: string, parent?: AbortSignal): { signal: AbortSignal; clear(): void } {
  const controller = new AbortController()
  const timer = setTimeout(() => {
    const err = new Error(`${what}: timed out after ${ms} ms`)
    err.name = 'TimeoutError'
    controller.abort(err)
  }, ms)
  timer.unref?.()
  return {
    signal: parent === undefined ? controller.signal : AbortSignal.any([parent, controller.signal]),
    clear: () => clearTimeout(timer),
  }
}
