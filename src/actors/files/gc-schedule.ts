/**
 * When the block collector runs: once at start, every `intervalMs`, and whenever asked (an aborted
 * import, a cache over its cap). Requests coalesce: one collection at a time, and any number of
 * requests made while it runs cause exactly one more.
 */
export class GcSchedule<R> {
  #running: Promise<void> | undefined
  #again = false
  #stopped = false
  #started = false
  #timer: NodeJS.Timeout | undefined
  readonly #abort = new AbortController()
  /** Collections finished (successfully or not), and the last one's report. */
  runs = 0
  last: R | undefined

  constructor(
    readonly run: (signal: AbortSignal) => Promise<R>,
    readonly intervalMs: number,
    readonly log: (msg: string) => void,
  ) {}

  /** Collect now and then periodically. */
  start(): void {
    if (this.#started || this.#stopped) return
    this.#started = true
    this.request()
    this.#timer = setInterval(() => this.request(), this.intervalMs)
    this.#timer.unref()
  }

  /** Ask for a collection soon; ignored before start (the start's own collection covers it). */
  request(): void {
    if (!this.#started || this.#stopped) return
    if (this.#running !== undefined) {
      this.#again = true
      return
    }
    this.#running = this.#loop().finally(() => {
      this.#running = undefined
    })
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false
      try {
        this.last = await this.run(this.#abort.signal)
      } catch (err) {
        if (!this.#stopped) this.log(`files: block collection failed: ${(err as Error).message}`)
      }
      this.runs++
    } while (this.#again && !this.#stopped)
  }

  /** Resolves when no collection runs (and none is due from a request). */
  async settled(): Promise<void> {
    while (this.#running !== undefined) await this.#running
  }

  /** No more collections; the one in progress is aborted and awaited (its stores are about to close). */
  async stop(): Promise<void> {
    this.#stopped = true
    clearInterval(this.#timer)
    this.#abort.abort(new Error('the file store is stopping'))
    await this.#running
  }
}
