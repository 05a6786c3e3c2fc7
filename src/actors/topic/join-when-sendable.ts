/** What is read of GossipSub: its open outbound streams, by peer id (a public field of @libp2p/gossipsub). */
interface OutboundStreams {
  streamsOutbound?: ReadonlyMap<string, unknown>
}

const POLL_MS = 20
/** A peer whose stream never opens is reported anyway: its subscription is a fact, sending to it may yet work. */
const GIVE_UP_MS = 5_000

/**
 * Reports a peer that subscribed to the topic once GossipSub can send to it. Its subscription
 * arrives on the stream the peer opened to us; ours to it opens on its own, a moment later (much
 * later under load), and a message published in between is dropped for that peer: a client told
 * "joined" that publishes at once lost its first message. So a join waits (polling, briefly) for the
 * outbound stream. Without that field (another pubsub) a join is reported at once.
 */
export class JoinWhenSendable {
  readonly #waiting = new Map<string, ReturnType<typeof setTimeout>>()

  constructor(
    private readonly pubsub: unknown,
    private readonly joined: (peerId: string) => void,
  ) {}

  add(peerId: string): void {
    if (this.#waiting.has(peerId)) return
    if (this.#sendable(peerId)) this.joined(peerId)
    else this.#wait(peerId, Date.now())
  }

  /** The peer left (or went away) before its join was reported: drop it. */
  cancel(peerId: string): void {
    clearTimeout(this.#waiting.get(peerId))
    this.#waiting.delete(peerId)
  }

  stop(): void {
    for (const timer of this.#waiting.values()) clearTimeout(timer)
    this.#waiting.clear()
  }

  #wait(peerId: string, since: number): void {
    const timer = setTimeout(() => {
      this.#waiting.delete(peerId)
      if (this.#sendable(peerId) || Date.now() - since >= GIVE_UP_MS) this.joined(peerId)
      else this.#wait(peerId, since)
    }, POLL_MS)
    this.#waiting.set(peerId, timer)
  }

  #sendable(peerId: string): boolean {
    const streams = (this.pubsub as OutboundStreams).streamsOutbound
    return streams === undefined || streams.has(peerId)
  }
}
