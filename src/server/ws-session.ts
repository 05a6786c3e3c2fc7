import { setMaxListeners } from 'node:events'
import type { Socket } from 'node:net'
import type { RawData, WebSocket } from 'ws'
import { TokenBucket } from '../p2p/token-bucket.ts'
import type { ClientSession } from './client-session.ts'
import { check, errorResponse, MAX_FRAME_DEPTH, RequestSchema, response } from './envelope.ts'
import { frameShape } from './frame-shape.ts'
import type { FrameSlicer } from './frame-slicer.ts'
import type { Method, MethodContext, ServerDeps } from './method.ts'
import { badRequest, conflict, RpcError, toRpcError } from './rpc-error.ts'
import { SendQueue } from './send-queue.ts'
import { startFeeds } from './session-feeds.ts'

/** Socket send buffer above which frames wait in our own bounded queue instead. */
const HIGH_WATER_BYTES = 1 << 20
/**
 * A slow client's queue: droppable pushes up to 1000 frames or 8 MiB (the oldest go first, counted);
 * a client 10,000 frames or 64 MiB behind on frames it must get (responses, acks, files) is
 * disconnected (1013).
 */
const QUEUE_LIMITS = { maxDroppableFrames: 1000, maxDroppableBytes: 8 * 1024 * 1024, maxMustFrames: 10_000, maxMustBytes: 64 * 1024 * 1024 }
/**
 * Pushes that only report on state a client can read again (or that are best-effort by nature, like
 * GossipSub's topicData): a slow client loses the oldest of these first. Everything else answers
 * something a client asked for or was promised (responses, ack, peerData, gotFile, peerFiles,
 * peerChange, actor.stopped) and is never dropped.
 */
const DROPPABLE_PUSHES = new Set(['actor.snapshot', 'inspect.event', 'peer.state', 'activity', 'presence.update', 'topicData'])

/** The requestid of a frame that starts `{"requestid":<n>`, read without parsing it (floods, refused shapes). */
function leadingRequestId(bytes: Buffer): number | null {
  const id = /^\s*\{\s*"requestid"\s*:\s*(-?\d{1,15})\s*[,}]/.exec(bytes.toString('utf8', 0, 64))?.[1]
  return id === undefined ? null : Number(id)
}

/**
 * Frames larger than this are taken in slices (measure, decode, parse and validate, run), each on a
 * turn of the daemon's FrameSlicer; smaller ones cost well under a millisecond and go at once.
 */
const SLICED_FRAME_BYTES = 64 * 1024

/** What an error reply to a frame names: its requestid once known, and its method's label for /metrics. */
interface FrameState {
  requestid: number | null
  method: string
}

const asBuffer = (data: RawData): Buffer => (Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data))

/**
 * One WebSocket client: parses and validates frames, runs requests concurrently, and sends pushes
 * through a bounded queue so one slow client never grows the daemon's memory or stalls others.
 */
export class Session implements ClientSession {
  /** The local peer this connection is bound to; peer-a unless `peer` created a session peer. */
  alias: string | undefined
  readonly #controller = new AbortController()
  readonly #cleanups = new Set<() => void | Promise<void>>()
  readonly #queue = new SendQueue(QUEUE_LIMITS)
  /** actors.subscribe subscriptions of this socket, by id, with their stop function. */
  readonly subscriptions = new Map<string, () => void>()
  readonly #bucket: TokenBucket
  #stopFeeds: (() => void) | undefined
  #pushCounter = 0
  #nextSubscription = 1
  /** Frames received and not yet handed to their method, in arrival order. */
  readonly #backlog: Array<Buffer | null> = []
  #admitting = false

  constructor(
    readonly socket: WebSocket,
    readonly deps: ServerDeps,
    readonly methods: Map<string, Method>,
    readonly slicer: FrameSlicer,
  ) {
    this.#bucket = new TokenBucket(deps.config.rateLimitBurst, deps.config.rateLimitPerSecond)
    socket.on('message', (data, isBinary) => {
      const bytes = asBuffer(data)
      if (!this.#bucket.take()) {
        // answered without parsing: a flood must cost as little as possible
        this.deps.metrics.countRequest('(rate-limited)', 429)
        this.#reply(errorResponse(isBinary ? null : leadingRequestId(bytes), 429, 'rate limited: too many requests on this connection'))
        return
      }
      if (!this.#admitting && bytes.length <= SLICED_FRAME_BYTES) {
        // the common case, nothing waiting before it: parsed, validated and started in this turn
        this.#admitNow(isBinary ? null : bytes)
        return
      }
      this.#backlog.push(isBinary ? null : bytes)
      if (!this.#admitting) void this.#admitBacklog()
    })
    socket.on('close', () => void this.close())
    // every in-flight request of this socket listens to its close: many at once is normal, not a leak
    setMaxListeners(0, this.#controller.signal)
  }

  #ctx: MethodContext | undefined
  /** One per session: the daemon's parts with this session and its signal, made on the first call. */
  #context(): MethodContext {
    this.#ctx ??= { ...this.deps, session: this, signal: this.signal }
    return this.#ctx
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
    this.#stopFeeds = startFeeds(this, this.deps, alias)
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

  /** Called as each frame sent has been written: frames queued behind a full socket go next. */
  readonly #onSent = () => this.#flush()
  #corked = false
  /** The TCP socket is corked from the first frame sent in a turn until the end of it: one write for all. */
  readonly #uncork = () => {
    this.#corked = false
    this.#tcp?.uncork()
  }
  get #tcp(): Socket | undefined {
    return (this.socket as unknown as { _socket?: Socket })._socket
  }

  #send(frame: string): void {
    if (!this.#corked) {
      const tcp = this.#tcp
      if (tcp !== undefined) {
        tcp.cork()
        this.#corked = true
        process.nextTick(this.#uncork)
      }
    }
    this.socket.send(frame, this.#onSent)
  }

  /** One FIFO for responses and pushes, so a response never overtakes the pushes sent before it. */
  #enqueue(frame: string, droppable: boolean): void {
    if (this.socket.readyState !== this.socket.OPEN) return
    if (this.#queue.length === 0 && this.socket.bufferedAmount < HIGH_WATER_BYTES) {
      this.#send(frame)
      return
    }
    const dropped = this.#queue.push(frame, droppable)
    if (dropped !== 'overflow') {
      this.deps.metrics.droppedPushes += dropped
      return
    }
    // what is left must not be dropped, and the daemon's memory must not grow: let the client reconnect
    this.deps.metrics.slowClientsClosed += 1
    this.#queue.clear()
    this.socket.close(1013, 'client too slow: too many frames waiting')
  }

  #flush(): void {
    while (this.#queue.length > 0 && this.socket.readyState === this.socket.OPEN && this.socket.bufferedAmount < HIGH_WATER_BYTES) {
      this.#send(this.#queue.shift() as string)
    }
  }

  #reply(frame: string): void {
    this.#enqueue(frame, false)
  }

  /**
   * Hand the waiting frames to their methods one after another, so methods start in the order their
   * frames came (they then run concurrently). While a large frame is taken in slices, the socket is
   * paused: a client cannot pile up frames faster than they are parsed.
   */
  async #admitBacklog(): Promise<void> {
    this.#admitting = true
    try {
      while (this.#backlog.length > 0 && !this.signal.aborted) {
        const bytes = this.#backlog.shift() as Buffer | null
        const large = bytes !== null && bytes.length > SLICED_FRAME_BYTES
        if (large && !this.socket.isPaused) this.socket.pause()
        await this.#admit(bytes, large)
      }
    } finally {
      this.#admitting = false
      if (this.socket.isPaused) this.socket.resume()
    }
  }

  /** A small frame with nothing before it: measured, parsed, validated and its method started, all in this turn. */
  #admitNow(bytes: Buffer | null): void {
    const frame: FrameState = { requestid: null, method: '(malformed)' }
    try {
      if (bytes === null) throw badRequest('binary frames are not accepted; send JSON text')
      this.#measure(bytes, frame)
      const { m, params, requestid } = this.#parse(bytes.toString(), frame)
      this.#run(m, params, requestid)
    } catch (err) {
      this.#refuse(err, frame)
    }
  }

  /** Measure, parse and validate one frame, then start its method (not awaited); a large one a step per turn. */
  async #admit(bytes: Buffer | null, large: boolean): Promise<void> {
    const frame: FrameState = { requestid: null, method: '(malformed)' }
    try {
      if (bytes === null) throw badRequest('binary frames are not accepted; send JSON text')
      if (large) await this.slicer.turn()
      this.#measure(bytes, frame)
      if (large) await this.slicer.turn()
      const text = bytes.toString()
      if (large) await this.slicer.turn()
      const { m, params, requestid } = this.#parse(text, frame)
      if (large) await this.slicer.turn()
      this.#run(m, params, requestid)
    } catch (err) {
      this.#refuse(err, frame)
    }
  }

  /** Refuse a frame whose shape alone is too costly; measured before parsing, as parse time and memory grow with nesting and element count, not just bytes. */
  #measure(bytes: Buffer, frame: FrameState): void {
    const { maxFrameElements, maxFrameKeys } = this.deps.config
    // each level, element and member the pass counts takes a byte of its own: a frame no longer than
    // the smallest limit cannot pass any (most requests, e.g. node.info's 50 bytes, skip the pass)
    if (bytes.length <= Math.min(MAX_FRAME_DEPTH, maxFrameElements, maxFrameKeys)) return
    const shape = frameShape(bytes, { maxDepth: MAX_FRAME_DEPTH, maxElements: maxFrameElements, maxKeys: maxFrameKeys })
    if (shape.ok) return
    frame.requestid = leadingRequestId(bytes)
    if (shape.limit === 'depth') throw badRequest(`frame: nested deeper than ${MAX_FRAME_DEPTH} levels`)
    frame.method = '(too-large)'
    if (shape.limit === 'keys') throw new RpcError(413, `frame: more than ${maxFrameKeys} object members (maxFrameKeys)`)
    throw new RpcError(413, `frame: more than ${maxFrameElements} arrays, objects, array elements and object members (maxFrameElements)`)
  }

  /** The one JSON.parse of a frame, its envelope and params checked by compiled validators. */
  #parse(text: string, frame: FrameState): { m: Method; params: unknown; requestid: number } {
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (err) {
      throw badRequest(`frame is not valid JSON: ${(err as Error).message}`)
    }
    if (parsed !== null && typeof parsed === 'object' && Number.isInteger((parsed as { requestid?: unknown }).requestid)) {
      frame.requestid = (parsed as { requestid: number }).requestid
    }
    const req = check(RequestSchema, parsed, 'frame')
    const m = this.methods.get(req.method)
    // one label for every unknown name keeps /metrics bounded whatever clients send
    frame.method = '(unknown)'
    if (!m) throw badRequest(`unknown method ${JSON.stringify(req.method)}`)
    frame.method = m.name
    return { m, params: check(m.params, req.params ?? {}, 'params'), requestid: req.requestid }
  }

  #refuse(err: unknown, frame: FrameState): void {
    const e = toRpcError(err)
    this.deps.metrics.countRequest(frame.method, e.code)
    this.#reply(errorResponse(frame.requestid, e.code, e.message))
  }

  /** Run a method; a result that is not a promise is answered in the same turn. */
  #run(m: Method, params: unknown, requestid: number): void {
    let result: unknown
    try {
      result = m.handler(params, this.#context())
    } catch (err) {
      this.#fail(m, requestid, err)
      return
    }
    if (typeof (result as PromiseLike<unknown> | null)?.then === 'function') {
      ;(result as PromiseLike<unknown>).then(
        (value) => this.#answer(m, requestid, value),
        (err: unknown) => this.#fail(m, requestid, err),
      )
      return
    }
    this.#answer(m, requestid, result)
  }

  #answer(m: Method, requestid: number, result: unknown): void {
    let frame: string
    try {
      frame = response(requestid, result)
    } catch (err) {
      this.#fail(m, requestid, err)
      return
    }
    this.deps.metrics.countRequest(m.name, 200)
    this.#reply(frame)
  }

  #fail(m: Method, requestid: number, err: unknown): void {
    const e = toRpcError(err)
    this.deps.metrics.countRequest(m.name, e.code)
    this.#reply(errorResponse(requestid, e.code, e.message))
  }

  async close(): Promise<void> {
    if (this.#controller.signal.aborted) return
    this.#controller.abort(new Error('socket closed'))
    this.#queue.clear()
    this.#backlog.length = 0
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
