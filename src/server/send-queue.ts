/** One FIFO of frames that are either droppable or must be sent, with a budget for each kind. */
export interface SendQueueLimits {
  /** Droppable frames kept at most; the oldest go first. */
  maxDroppableFrames: number
  maxDroppableBytes: number
  /** Frames that must be sent: past either bound the client is too far behind to keep. */
  maxMustFrames: number
  maxMustBytes: number
}

interface Entry {
  frame: string
  seq: number
}

/** A FIFO with O(1) shift: a head index, compacted once most of the array is consumed. */
class Fifo {
  #items: Entry[] = []
  #head = 0
  bytes = 0

  get length(): number {
    return this.#items.length - this.#head
  }

  peek(): Entry | undefined {
    return this.#items[this.#head]
  }

  push(e: Entry): void {
    this.#items.push(e)
    this.bytes += e.frame.length
  }

  shift(): Entry | undefined {
    const e = this.#items[this.#head]
    if (e === undefined) return undefined
    this.#items[this.#head] = undefined as never
    this.#head += 1
    this.bytes -= e.frame.length
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head)
      this.#head = 0
    }
    return e
  }

  clear(): void {
    this.#items = []
    this.#head = 0
    this.bytes = 0
  }
}

/**
 * Frames waiting for a slow socket, in the order they were queued (so a response never overtakes the
 * pushes sent before it). Droppable frames have their own budget and lose their oldest when it is
 * full; only frames that must be sent can make the queue overflow.
 */
export class SendQueue {
  readonly #droppable = new Fifo()
  readonly #must = new Fifo()
  #seq = 0

  constructor(private readonly limits: SendQueueLimits) {}

  get length(): number {
    return this.#droppable.length + this.#must.length
  }

  /** Queue `frame`; returns how many droppable frames were dropped for it, or 'overflow'. */
  push(frame: string, droppable: boolean): number | 'overflow' {
    const entry = { frame, seq: this.#seq++ }
    if (!droppable) {
      this.#must.push(entry)
      return this.#must.length > this.limits.maxMustFrames || this.#must.bytes > this.limits.maxMustBytes ? 'overflow' : 0
    }
    this.#droppable.push(entry)
    let dropped = 0
    while (this.#droppable.length > this.limits.maxDroppableFrames || this.#droppable.bytes > this.limits.maxDroppableBytes) {
      this.#droppable.shift()
      dropped += 1
    }
    return dropped
  }

  /** The oldest frame of either kind. */
  shift(): string | undefined {
    const d = this.#droppable.peek()
    const m = this.#must.peek()
    if (d === undefined && m === undefined) return undefined
    const from = m === undefined || (d !== undefined && d.seq < m.seq) ? this.#droppable : this.#must
    return from.shift()?.frame
  }

  clear(): void {
    this.#droppable.clear()
    this.#must.clear()
  }
}
