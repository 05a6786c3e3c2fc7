import type { Stream } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import { decodeMessageFrame, type MessageFrame, messageFrameDecoder } from '../../p2p/message-codec.ts'

export interface WireStreamEvents {
  /** A well-formed frame arrived; frames are handed over one at a time, in arrival order. */
  onFrame(frame: MessageFrame, ws: WireStream): void
  /** The peer broke the framing: the stream is already cut. */
  onMalformed(error: Error, ws: WireStream): void
  /** The stream can no longer carry frames both ways (closed, reset, or the remote stopped writing). */
  onEnded(ws: WireStream): void
}

/**
 * One libp2p stream of a direct-message protocol, in either direction: splits incoming bytes into
 * frames and writes frames with the stream's own backpressure.
 */
export class WireStream {
  readonly decoder
  /** Last time a frame went either way; idle streams are closed by whoever opened them. */
  lastActivity = Date.now()
  /** Messages written on this stream and not yet acknowledged. */
  inFlight = 0
  #ended = false
  #corked: Uint8ArrayList | undefined

  constructor(
    readonly stream: Stream,
    readonly events: WireStreamEvents,
    maxFrameBytes: number,
    /** The clock of `lastActivity`. */
    readonly now: () => number = Date.now,
  ) {
    this.lastActivity = now()
    this.decoder = messageFrameDecoder(maxFrameBytes)
    stream.addEventListener('message', (evt) => this.#onBytes(evt.data))
    stream.addEventListener('close', () => this.#end())
    // the remote will send no more acks: the stream is useless to us as a sender, and a receiver
    // closes its own end so the stream is released
    stream.addEventListener('remoteCloseWrite', () => {
      this.#end()
      void stream.close().catch(() => stream.abort(new Error('close failed')))
    })
  }

  get protocol(): string {
    return this.stream.protocol
  }

  get direction(): 'inbound' | 'outbound' {
    return this.stream.direction
  }

  /** Open both ways: frames written now can be answered. */
  get usable(): boolean {
    return (
      !this.#ended &&
      this.stream.status === 'open' &&
      this.stream.writeStatus === 'writable' &&
      this.stream.remoteWriteStatus === 'writable'
    )
  }

  #onBytes(data: Uint8Array | Uint8ArrayList): void {
    if (this.#ended) return
    this.lastActivity = this.now()
    const frames: MessageFrame[] = []
    let malformed: Error | undefined
    try {
      for (const body of this.decoder.decode(data)) frames.push(decodeMessageFrame(body))
    } catch (err) {
      malformed = err as Error
    }
    // the good frames before a bad one still count; their acks go out together
    this.cork()
    for (const frame of frames) {
      if (this.#ended) break
      try {
        this.events.onFrame(frame, this)
      } catch {
        // a failure of ours handling one frame is not the peer's fault, and must not stop the others
      }
    }
    this.uncork()
    if (malformed && !this.#ended) {
      this.abort(malformed)
      this.events.onMalformed(malformed, this)
    }
  }

  /**
   * Write one encoded frame. False when the stream cannot take it (ended); a full send buffer is
   * waited out with `drained()`. While corked, frames are gathered and go out together on `uncork`.
   */
  write(frame: Uint8Array): boolean {
    if (!this.usable) return false
    this.lastActivity = this.now()
    if (this.#corked) {
      this.#corked.append(frame)
      return true
    }
    return this.#send(frame)
  }

  /**
   * Gather writes until `uncork`: one send per batch instead of one per frame, which saves a muxer
   * frame and an encryption per message when many go at once.
   */
  cork(): void {
    this.#corked ??= new Uint8ArrayList()
  }

  /** Send what was gathered; false when the stream ended meanwhile (what was gathered is lost with it). */
  uncork(): boolean {
    const batch = this.#corked
    this.#corked = undefined
    if (!batch || batch.byteLength === 0) return !this.#ended
    return this.usable && this.#send(batch)
  }

  /** Bytes gathered since `cork`. */
  get corkedBytes(): number {
    return this.#corked?.byteLength ?? 0
  }

  #send(data: Uint8Array | Uint8ArrayList): boolean {
    try {
      this.stream.send(data)
      return true
    } catch {
      this.#end()
      return false
    }
  }

  /** Resolves when the send buffer has room again; rejects when the stream closes meanwhile. */
  async drained(signal: AbortSignal): Promise<void> {
    if (this.stream.writableNeedsDrain) await this.stream.onDrain({ signal })
  }

  /** Close our end gracefully; the remote closes its own when it sees it. */
  close(): void {
    this.#end()
    void this.stream.close().catch((err: Error) => this.stream.abort(err))
  }

  abort(err: Error): void {
    this.#end()
    this.stream.abort(err)
  }

  /**
   * Treat the stream as over from now on, even before libp2p says so: what waits for an ack on it
   * is sent again elsewhere, ahead of newer messages, which keeps them in order.
   */
  retire(): void {
    this.#end()
  }

  #end(): void {
    if (this.#ended) return
    this.#ended = true
    this.events.onEnded(this)
  }
}
