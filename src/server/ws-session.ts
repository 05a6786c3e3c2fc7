import { setMaxListeners } from 'node:events'
import type { WebSocket } from 'ws'
import type { Switchboard } from '../switchboard.ts'
import { check, errorResponse, MAX_FRAME_DEPTH, nestedDeeperThan, RequestSchema, response } from './envelope.ts'
import type { Method } from './method.ts'
import { badRequest, conflict, toRpcError } from './rpc-error.ts'
import { TokenBucket } from '../p2p/token-bucket.ts'
import { startFeeds } from './session-feeds.ts'

/** Socket send buffer above which frames wait in our own bounded queue instead. */
const HIGH_WATER_BYTES = 1 << 20
/** Frames a slow client may have waiting; beyond this the oldest droppable pushes go, counted. */
const MAX_QUEUED_FRAMES = 1000
/** A client this far behind on frames it must get (responses, acks, files) is disconnected (1013). */
const MAX_UNDROPPABLE_FRAMES = 10_000
const MAX_QUEUED_BYTES = 64 * 1024 * 1024
/**
 * Pushes that only report on state a client can read again (or that are best-effort by nature, like
 * GossipSub's topicData): a slow client loses the oldest of these first. Everything else answers
 * something a client asked for or was promised (responses, ack, peerData, gotFile, peerFiles,
 * peerChange, actor.stopped) and is never dropped.
 */
const DROPPABLE_PUSHES = new Set(['actor.snapshot', 'inspect.event', 'peer.state', 'activity', 'presence.update', 'topicData'])

interface Queued {
  frame: string
  droppable: boolean
}

/**
 * One WebSocket client: parses and validates frames, runs requests concurrently, and sends pushes
 * through a bounded queue so one slow client never grows the daemon's memory or stalls others.
 */
export class Session {
  /** The local peer this connection is bound to; peer-a unless `peer` created a session peer. */
  alias: string | undefined
  readonly #controller = new AbortController()
  readonly #cleanups = new Set<() => void | Promise<void>>()
  readonly #queue: Queued[] = []
  #queuedBytes = 0
  /** actors.subscribe subscriptions of this socket, by id, with their stop function. */
  readonly subscriptions = new Map<string, () => void>()
  readonly #bucket: TokenBucket
  #stopFeeds: (() => void) | undefined
  #pushCounter = 0
  #nextSubscription = 1

  constructor(
    readonly socket: WebSocket,
    readonly sb: Switchboard,
    readonly methods: Map<string, Method>,
  ) {
    this.#bucket = new TokenBucket(sb.config.rateLimitBurst, sb.config.rateLimitPerSecond)
    socket.on('message', (data, isBinary) => {
      if (!this.#bucket.take()) {
        // answered without parsing: a flood must cost as little as possible
        this.sb.metrics.countRequest('(rate-limited)', 429)
        const id = isBinary ? null : /"requestid"\s*:\s*(-?\d+)/.exec(data.toString('utf8', 0, 256))?.[1]
        this.#reply(errorResponse(id ? Number(id) : null, 429, 'rate limited: too many requests on this connection'))
        return
      }
      void this.#onFrame(isBinary ? null : data.toString())
    })
    socket.on('close', () => void this.close())
    // every in-flight request of this socket listens to its close: many at once is normal, not a leak
    setMaxListeners(0, this.#controller.signal)
  }

  get signal(): AbortSignal {
    return this.#controller.signal
  }

  /** The bound alias, binding to peer-a on first use. */
  boundAlias(): string {
    return this.alias ?? this.bind('peer-a')
  }

  /** Bind this connection to a local peer, once; its feeds start pushing. */
  bind(alias: string): string {
    if (this.alias !== undefined) throw conflict(`this connection is already bound to ${this.alias}`)
    this.alias = alias
    this.#stopFeeds = startFeeds(this, this.sb, alias)
    return alias
  }

  /** Undo a bind whose local peer never came up, so the client may call `peer` again. */
  unbind(): void {
    this.#stopFeeds?.()
    this.#stopFeeds = undefined
    this.alias = undefined
  }

  newSubscriptionId(): string {
    return `s${this.#nextSubscription++}`
  }

  /** Run `fn` when the socket closes (unsubscribe, stop a session peer). */
  onClose(fn: () => void | Promise<void>): () => void {
    // a handler that resumes after the socket closed (e.g. `peer` past an await) still gets cleaned up
    if (this.#controller.signal.aborted) {
      void Promise.resolve()
        .then(fn)
        .catch(() => {})
      return () => {}
    }
    this.#cleanups.add(fn)
    // the disposer: a subscription ended early must not leave its cleanup behind
    return () => void this.#cleanups.delete(fn)
  }

  push(method: string, params: unknown): void {
    this.#pushCounter += 1
    this.#enqueue(JSON.stringify({ requestid: this.#pushCounter, isresponse: false, method, params }), DROPPABLE_PUSHES.has(method))
  }

  /** One FIFO for responses and pushes, so a response never overtakes the pushes sent before it. */
  #enqueue(frame: string, droppable: boolean): void {
    if (this.socket.readyState !== this.socket.OPEN) return
    if (this.#queue.length === 0 && this.socket.bufferedAmount < HIGH_WATER_BYTES) {
      this.socket.send(frame, () => this.#flush())
      return
    }
    this.#queue.push({ frame, droppable })
    this.#queuedBytes += frame.length
    while (this.#queue.length > MAX_QUEUED_FRAMES) {
      const oldest = this.#queue.findIndex((q) => q.droppable)
      if (oldest < 0) break
      this.#queuedBytes -= (this.#queue[oldest] as Queued).frame.length
      this.#queue.splice(oldest, 1)
      this.sb.metrics.droppedPushes += 1
    }
    if (this.#queue.length > MAX_UNDROPPABLE_FRAMES || this.#queuedBytes > MAX_QUEUED_BYTES) {
      // what is left must not be dropped, and the daemon's memory must not grow: let the client reconnect
      this.sb.metrics.slowClientsClosed += 1
      this.#queue.length = 0
      this.#queuedBytes = 0
      this.socket.close(1013, 'client too slow: too many frames waiting')
    }
  }

  #flush(): void {
    while (this.#queue.length > 0 && this.socket.readyState === this.socket.OPEN && this.socket.bufferedAmount < HIGH_WATER_BYTES) {
      const { frame } = this.#queue.shift() as Queued
      this.#queuedBytes -= frame.length
      this.socket.send(frame, () => this.#flush())
    }
  }

  #reply(frame: string): void {
    this.#enqueue(frame, false)
  }

  async #onFrame(text: string | null): Promise<void> {
    let requestid: number | null = null
    let method = '(malformed)'
    try {
      if (text === null) throw badRequest('binary frames are not accepted; send JSON text')
      let parsed: unknown
      try {
        parsed = JSON.parse(text)
      } catch (err) {
        throw badRequest(`frame is not valid JSON: ${(err as Error).message}`)
      }
      if (parsed !== null && typeof parsed === 'object' && Number.isInteger((parsed as { requestid?: unknown }).requestid)) {
        requestid = (parsed as { requestid: number }).requestid
      }
      if (nestedDeeperThan(parsed, MAX_FRAME_DEPTH)) throw badRequest(`frame: nested deeper than ${MAX_FRAME_DEPTH} levels`)
      const req = check(RequestSchema, parsed, 'frame')
      const m = this.methods.get(req.method)
      // one label for every unknown name keeps /metrics bounded whatever clients send
      method = '(unknown)'
      if (!m) throw badRequest(`unknown method ${JSON.stringify(req.method)}`)
      method = m.name
      const params = check(m.params, req.params ?? {}, 'params')
      const result = await m.handler(params, { sb: this.sb, session: this, signal: this.signal })
      this.sb.metrics.countRequest(method, 200)
      this.#reply(response(req.requestid, result))
    } catch (err) {
      const e = toRpcError(err)
      this.sb.metrics.countRequest(method, e.code)
      this.#reply(errorResponse(requestid, e.code, e.message))
    }
  }

  async close(): Promise<void> {
    if (this.#controller.signal.aborted) return
    this.#controller.abort(new Error('socket closed'))
    this.#queue.length = 0
    this.#queuedBytes = 0
    this.#stopFeeds?.()
    const cleanups = [...this.#cleanups].reverse()
    this.#cleanups.clear()
    for (const fn of cleanups) {
      try {
        await fn()
      } catch {
        // a failing cleanup must not keep the others from running
      }
    }
  }
}
