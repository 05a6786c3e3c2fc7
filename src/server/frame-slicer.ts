/**
 * Large frames from every connection take turns, one slice of work per event-loop turn for the whole
 * daemon: however many clients send large frames at once, other sockets (ordinary clients, /health,
 * libp2p) wait for at most one slice, not one per client.
 */
export class FrameSlicer {
  readonly #waiting: Array<() => void> = []
  #pumping = false

  /** Resolves when it is the caller's turn; a poll phase (where waiting sockets are served) has run since the last turn. */
  turn(): Promise<void> {
    return new Promise((resolve) => {
      this.#waiting.push(resolve)
      if (!this.#pumping) {
        this.#pumping = true
        this.#schedule()
      }
    })
  }

  /**
   * An immediate queued from the check phase runs only after the next poll phase; a single one queued
   * from an I/O callback would run before the sockets that became ready meanwhile.
   */
  #schedule(): void {
    setImmediate(() => setImmediate(() => this.#next()))
  }

  #next(): void {
    const resolve = this.#waiting.shift()
    if (resolve === undefined) {
      this.#pumping = false
      return
    }
    // the slice runs in this callback's microtasks, before the next turn is scheduled
    resolve()
    this.#schedule()
  }
}
