import type { Static, TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import {
  type MethodName,
  type MethodParams,
  type MethodResult,
  methodSchemas,
  type PushName,
  type PushParams,
  pushSchemas,
  type shapes,
} from '../protocol/index.ts'

/**
 * The Switchboard client for browsers and Node: a typed `call` for every method of the WebSocket
 * protocol (params and result types from src/protocol, the schemas the server validates with),
 * typed `on` for pushes, request timeouts and AbortSignal, and a connection that comes back by
 * itself: after the socket drops it reconnects with capped, jittered backoff and restores what the
 * app did (its session peer with the same `peerkey`, topics, protocols, added peers, presence,
 * actor subscriptions, the inspection stream) before calls made meanwhile go out. Browser-safe:
 * no Node module is imported (Node 20 passes a WebSocket class, e.g. the `ws` package's).
 */

export type ClientState = 'connecting' | 'open' | 'reconnecting' | 'closed'

/** A call the daemon refused (its protocol error code and message), or one that never got an answer. */
export class SwitchboardError extends Error {
  override name = 'SwitchboardError'
  constructor(
    /** The protocol error code (400, 404, 503, ...); 0 when the connection failed or closed. */
    readonly code: number,
    message: string,
    readonly method?: string,
  ) {
    super(`${code}: ${message}`)
  }
}

/** A call that got no answer within its timeout (code 504, like the daemon's own timeouts). */
export class SwitchboardTimeoutError extends SwitchboardError {
  override name = 'SwitchboardTimeoutError'
  constructor(method: string, timeoutMs: number) {
    super(504, `${method}: no answer within ${timeoutMs} ms`, method)
  }
}

type WebSocketCtor = new (url: string, protocols?: string | string[], options?: unknown) => WebSocket

export interface BackoffOptions {
  /** First retry after about this long (ms); default 250. */
  initialMs?: number
  /** Cap on the delay (ms); default 10 000. */
  maxMs?: number
  /** Give up (state `closed`) after this many failed tries in a row; default never. */
  maxAttempts?: number
}

export interface ClientOptions {
  /** ws://host:port/ws; default: `/ws` on the page's own host (browsers). */
  url?: string
  /** The daemon's token, sent as `?token=`; a page the daemon served has its cookie instead. */
  token?: string
  /** A WebSocket class; default `globalThis.WebSocket` (Node 20: pass the `ws` package's). */
  WebSocket?: WebSocketCtor
  /** Extra options for the `ws` constructor (headers such as Origin or Cookie). */
  wsOptions?: Record<string, unknown>
  /** Default request timeout (ms); 0 for none. Default 30 000. Per call: `{timeoutMs}`. */
  timeoutMs?: number
  /** Reconnect after the socket drops (default true), or how. */
  reconnect?: boolean | BackoffOptions
  /** Check every result and push against its schema and reject/skip what does not match (default false). */
  validate?: boolean
}

export interface CallOptions {
  /** This call's timeout (ms); 0 for none. */
  timeoutMs?: number
  /** Abort waiting for the answer (the daemon may still carry the request out). */
  signal?: AbortSignal
}

/** Events of the client itself, beside the daemon's pushes. */
export interface ClientEvents {
  /** The connection's state changed. */
  state: { state: ClientState; previous: ClientState }
  /** Connected again after a drop, and the app's session restored. */
  reconnected: { attempt: number; peerid: string | null }
  /**
   * An actor subscription's view was rebuilt: after a `seq` gap showed a missed `actor.snapshot`
   * (`reason: 'gap'`) or after a reconnect (`'reconnect'`). `actors` is the whole current list under
   * its prefix: replace what you hold.
   */
  resync: { subscription: string; prefix: string; reason: 'gap' | 'reconnect'; actors: Static<typeof shapes.Snapshot>[] }
  /** Restoring part of the session after a reconnect failed (the rest is restored). */
  error: { error: Error; during: string }
}

export type PushEvents = { [P in PushName]: PushParams<P> }
export type EventName = PushName | keyof ClientEvents
export type EventParams<E extends EventName> = E extends PushName ? PushParams<E> : E extends keyof ClientEvents ? ClientEvents[E] : never

/** `call(method)` may leave out params that are all optional. */
type CallArgs<M extends MethodName> =
  // biome-ignore lint/complexity/noBannedTypes: {} is "no required params"
  {} extends MethodParams<M> ? [params?: MethodParams<M>, options?: CallOptions] : [params: MethodParams<M>, options?: CallOptions]

interface Pending {
  method: string
  resolve: (v: unknown) => void
  reject: (e: Error) => void
  cleanup: () => void
}

interface ActorSub {
  /** The id the app got (kept stable across reconnects). */
  id: string
  /** The daemon's id on the current connection. */
  current: string
  prefix: string
  seqs: Map<string, number>
  resyncing: boolean
}

const DEFAULT_TIMEOUT_MS = 30_000

function defaultUrl(): string {
  const loc = (globalThis as { location?: { protocol: string; host: string } }).location
  if (!loc) throw new SwitchboardError(0, 'no url given and no page location to default to')
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/ws`
}

export class SwitchboardClient {
  readonly url: string
  #state: ClientState = 'connecting'
  #socket: WebSocket | undefined
  #next = 0
  readonly #pending = new Map<number, Pending>()
  readonly #listeners = new Map<string, Set<(params: never) => void>>()
  readonly #opts: ClientOptions
  /** Resolves when the socket is open and the session restored; replaced on each drop. */
  #ready!: Promise<void>
  #readyResolve!: () => void
  #readyReject!: (e: Error) => void
  #attempt = 0
  #timer: ReturnType<typeof setTimeout> | undefined
  #everOpened = false

  // what the app did, to do again after a reconnect
  #peer: { peerkey: string; rootDirectory?: string; peerid: string } | undefined
  readonly #topics = new Set<string>()
  readonly #protocols = new Set<string>()
  readonly #added = new Set<string>()
  #presence: MethodParams<'presence.announce'> | undefined
  readonly #actorSubs = new Map<string, ActorSub>()
  #inspecting = false

  constructor(opts: ClientOptions = {}) {
    this.#opts = opts
    this.url = opts.url ?? defaultUrl()
    this.#resetReady()
    this.#open()
  }

  /** Connect and wait until the socket is open; rejects (code 0) when the first try fails. */
  static async connect(url: string, opts: Omit<ClientOptions, 'url'> = {}): Promise<SwitchboardClient> {
    const client = new SwitchboardClient({ ...opts, url })
    try {
      await client.ready()
    } catch (err) {
      client.close()
      throw err
    }
    return client
  }

  get state(): ClientState {
    return this.#state
  }

  /** The session peer's id once `peer` answered, else null. */
  get peerid(): string | null {
    return this.#peer?.peerid ?? null
  }

  /** The session peer's key once `peer` answered (pass it to `peer` later to be the same peer again). */
  get peerkey(): string | null {
    return this.#peer?.peerkey ?? null
  }

  /** Resolves once the client is open (and, after a drop, its session restored). */
  ready(): Promise<void> {
    return this.#ready
  }

  /** Call a method; resolves with its result, rejects with SwitchboardError (or the signal's reason). */
  call<M extends MethodName>(method: M, ...args: CallArgs<M>): Promise<MethodResult<M>> {
    const [params, options] = args as [MethodParams<M> | undefined, CallOptions | undefined]
    return this.#call(method, params ?? {}, options ?? {}, false) as Promise<MethodResult<M>>
  }

  /** Listen to a push (or a client event) by name; returns the function that stops listening. */
  on<E extends EventName>(event: E, fn: (params: EventParams<E>) => void): () => void {
    let set = this.#listeners.get(event)
    if (!set) {
      set = new Set()
      this.#listeners.set(event, set)
    }
    set.add(fn as (params: never) => void)
    return () => set.delete(fn as (params: never) => void)
  }

  /** The first push (or event) of that name matching `predicate`; rejects on timeout or abort. */
  waitFor<E extends EventName>(
    event: E,
    predicate: (params: EventParams<E>) => boolean = () => true,
    options: CallOptions = {},
  ): Promise<EventParams<E>> {
    const timeoutMs = options.timeoutMs ?? this.#opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
    return new Promise((resolve, reject) => {
      const done = () => {
        off()
        clearTimeout(timer)
        options.signal?.removeEventListener('abort', onAbort)
      }
      const onAbort = () => {
        done()
        reject(options.signal?.reason)
      }
      const onTimeout = () => {
        done()
        reject(new SwitchboardTimeoutError(event, timeoutMs))
      }
      const timer = timeoutMs > 0 ? setTimeout(onTimeout, timeoutMs) : undefined
      const off = this.on(event, (params) => {
        if (!predicate(params)) return
        done()
        resolve(params)
      })
      if (options.signal?.aborted) onAbort()
      else options.signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** Close for good: no reconnect; pending calls reject. */
  close(): void {
    if (this.#state === 'closed') return
    clearTimeout(this.#timer)
    this.#setState('closed')
    const socket = this.#socket
    this.#socket = undefined
    socket?.close()
    this.#failPending('client closed')
    this.#readyReject(new SwitchboardError(0, 'client closed'))
  }

  // ---- connection --------------------------------------------------------------------------

  #resetReady(): void {
    this.#ready = new Promise<void>((resolve, reject) => {
      this.#readyResolve = resolve
      this.#readyReject = reject
    })
    // nobody may be waiting: an unobserved rejection is not an error here
    this.#ready.catch(() => {})
  }

  #open(): void {
    const Ctor = this.#opts.WebSocket ?? (globalThis.WebSocket as unknown as WebSocketCtor | undefined)
    if (!Ctor) {
      this.#setState('closed')
      this.#readyReject(new SwitchboardError(0, 'no WebSocket class: pass one as the WebSocket option'))
      return
    }
    const { token, wsOptions } = this.#opts
    const target = token ? `${this.url}${this.url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : this.url
    let socket: WebSocket
    try {
      socket = wsOptions ? new Ctor(target, undefined, wsOptions) : new Ctor(target)
    } catch (err) {
      this.#setState('closed')
      this.#readyReject(new SwitchboardError(0, `cannot connect to ${this.url}: ${(err as Error).message}`))
      return
    }
    this.#socket = socket
    let opened = false
    // the close event that follows says what happened; Node's `ws` throws an error nobody listens to
    socket.addEventListener('error', () => {})
    socket.addEventListener('open', () => {
      if (this.#socket !== socket) return
      opened = true
      void this.#onOpen()
    })
    socket.addEventListener('message', (ev) => {
      if (this.#socket === socket) this.#onMessage(String((ev as MessageEvent).data))
    })
    socket.addEventListener('close', (ev) => {
      if (this.#socket !== socket) return
      this.#socket = undefined
      this.#onClose(opened, ev as CloseEvent)
    })
  }

  async #onOpen(): Promise<void> {
    const again = this.#everOpened
    this.#everOpened = true
    if (again) {
      try {
        await this.#restore()
      } catch {
        // the socket dropped while restoring: its close handler has scheduled the next try
        return
      }
    }
    const attempt = this.#attempt
    this.#attempt = 0
    this.#setState('open')
    this.#readyResolve()
    if (again) this.#emit('reconnected', { attempt, peerid: this.peerid })
  }

  #onClose(opened: boolean, ev: CloseEvent): void {
    this.#failPending(`socket closed (${ev.code}${ev.reason ? ` ${ev.reason}` : ''})`)
    if (this.#state === 'closed') return
    const reconnect = this.#opts.reconnect ?? true
    // a first connection that never opened is a bad URL, token or Origin: say so instead of retrying
    if (!this.#everOpened || reconnect === false) {
      this.#setState('closed')
      this.#readyReject(new SwitchboardError(0, `cannot connect to ${this.url}${opened ? ` (closed ${ev.code})` : ''}`))
      return
    }
    const backoff = reconnect === true ? {} : reconnect
    if (this.#attempt >= (backoff.maxAttempts ?? Number.POSITIVE_INFINITY)) {
      this.#setState('closed')
      this.#readyReject(new SwitchboardError(0, `gave up reconnecting to ${this.url} after ${this.#attempt} tries`))
      return
    }
    if (this.#state === 'open') this.#resetReady()
    this.#setState('reconnecting')
    const cap = backoff.maxMs ?? 10_000
    const base = Math.min(cap, (backoff.initialMs ?? 250) * 2 ** this.#attempt)
    const delay = base * (0.5 + Math.random() * 0.5)
    this.#attempt++
    this.#timer = setTimeout(() => {
      if (this.#state === 'reconnecting') this.#open()
    }, delay)
  }

  /** Do again what the app did on the lost connection, in the order the daemon needs (`peer` first). */
  async #restore(): Promise<void> {
    const step = async (during: string, fn: () => Promise<unknown>) => {
      try {
        await fn()
      } catch (err) {
        if (err instanceof SwitchboardError && err.code === 0) throw err
        this.#emit('error', { error: err as Error, during })
      }
    }
    const call = <M extends MethodName>(method: M, params: MethodParams<M>) =>
      this.#call(method, params, {}, true) as Promise<MethodResult<M>>
    const peer = this.#peer
    if (peer) {
      await step('peer', async () => {
        let params: MethodParams<'peer'> = { peerkey: peer.peerkey, ...(peer.rootDirectory ? { rootDirectory: peer.rootDirectory } : {}) }
        for (let attempt = 0; ; attempt++) {
          try {
            await call('peer', params)
            return
          } catch (err) {
            if (!(err instanceof SwitchboardError)) throw err
            if (err.code === 404 && params.rootDirectory) {
              // a directory root the daemon no longer keeps: be the same peer without it
              params = { peerkey: peer.peerkey }
              continue
            }
            // 409: the daemon is still stopping this peer from the lost connection (a drop, not a restart)
            if (err.code !== 409 || attempt >= 8) throw err
            await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 100 * 2 ** attempt)))
          }
        }
      })
    }
    await Promise.all([
      ...[...this.#topics].map((topic) => step(`subscribe ${topic}`, () => call('subscribe', { topic }))),
      ...[...this.#protocols].map((protocol) => step(`start ${protocol}`, () => call('start', { protocol }))),
      ...(this.#added.size > 0 ? [step('addpeers', () => call('addpeers', { peerIds: [...this.#added] }))] : []),
      ...(this.#presence ? [step('presence.announce', () => call('presence.announce', this.#presence ?? {}))] : []),
      ...(this.#inspecting ? [step('inspect.subscribe', () => call('inspect.subscribe', {}))] : []),
      ...[...this.#actorSubs.values()].map((sub) =>
        step(`actors.subscribe ${sub.prefix}`, async () => {
          const r = await call('actors.subscribe', { prefix: sub.prefix })
          sub.current = r.subscription
          this.#resetSeqs(sub, r.actors)
          this.#emit('resync', { subscription: sub.id, prefix: sub.prefix, reason: 'reconnect', actors: r.actors })
        }),
      ),
    ])
  }

  #setState(state: ClientState): void {
    const previous = this.#state
    if (previous === state) return
    this.#state = state
    this.#emit('state', { state, previous })
  }

  #failPending(why: string): void {
    const pending = [...this.#pending.values()]
    this.#pending.clear()
    for (const p of pending) {
      p.cleanup()
      p.reject(new SwitchboardError(0, why, p.method))
    }
  }

  // ---- calls -------------------------------------------------------------------------------

  async #call(method: string, params: unknown, options: CallOptions, restoring: boolean): Promise<unknown> {
    const { signal } = options
    const timeoutMs = options.timeoutMs ?? this.#opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
    signal?.throwIfAborted()
    const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : undefined
    // app calls wait while the client (re)connects and restores
    if (!restoring && this.#state !== 'open') {
      if (this.#state === 'closed') throw new SwitchboardError(0, 'client closed', method)
      await this.#waitReady(method, signal, deadline === undefined ? 0 : deadline - Date.now(), timeoutMs)
    }
    const socket = this.#socket
    if (socket?.readyState !== 1) throw new SwitchboardError(0, 'socket is not open', method)
    const result = await new Promise<unknown>((resolve, reject) => {
      const requestid = ++this.#next
      const remaining = deadline === undefined ? 0 : Math.max(1, deadline - Date.now())
      const timer =
        deadline === undefined
          ? undefined
          : setTimeout(() => {
              this.#pending.delete(requestid)
              cleanup()
              reject(new SwitchboardTimeoutError(method, timeoutMs))
            }, remaining)
      const onAbort = () => {
        this.#pending.delete(requestid)
        cleanup()
        reject(signal?.reason)
      }
      const cleanup = () => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#pending.set(requestid, { method, resolve, reject, cleanup })
      socket.send(JSON.stringify({ requestid, method, params: this.#outgoing(method, params) }))
    })
    if (this.#opts.validate) {
      const schema = methodSchemas[method as MethodName]?.result
      if (schema && !Value.Check(schema, result)) {
        const first = [...Value.Errors(schema, result)][0]
        throw new SwitchboardError(0, `${method}: unexpected result at ${first?.path || '/'}: ${first?.message}`, method)
      }
    }
    if (!restoring) this.#remember(method, params as Record<string, unknown>, result)
    return result
  }

  #waitReady(method: string, signal: AbortSignal | undefined, remaining: number, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const fail = (err: unknown) => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        reject(err)
      }
      const onAbort = () => fail(signal?.reason)
      const onTimeout = () => fail(new SwitchboardTimeoutError(method, timeoutMs))
      const timer = timeoutMs > 0 ? setTimeout(onTimeout, remaining) : undefined
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#ready.then(
        () => {
          clearTimeout(timer)
          signal?.removeEventListener('abort', onAbort)
          resolve()
        },
        (err: Error) => fail(err instanceof SwitchboardError ? err : new SwitchboardError(0, err.message, method)),
      )
    })
  }

  /** Remember what a successful call set up, so a reconnect sets it up again. */
  #remember(method: string, params: Record<string, unknown>, result: unknown): void {
    switch (method) {
      case 'peer': {
        const r = result as MethodResult<'peer'>
        const root = params.rootDirectory as string | undefined
        this.#peer = { peerid: r.peerid, peerkey: r.peerkey, ...(root ? { rootDirectory: root } : {}) }
        break
      }
      case 'storefile':
        // a session peer comes back with its directory: follow its root
        if (this.#peer) this.#peer.rootDirectory = (result as MethodResult<'storefile'>).rootCid
        break
      case 'subscribe':
        this.#topics.add(params.topic as string)
        break
      case 'unsubscribe':
        this.#topics.delete(params.topic as string)
        break
      case 'start':
        this.#protocols.add(params.protocol as string)
        break
      case 'stop':
        this.#protocols.delete(params.protocol as string)
        break
      case 'addpeers':
        for (const id of params.peerIds as string[]) this.#added.add(id)
        break
      case 'removepeers':
        for (const id of params.peerIds as string[]) this.#added.delete(id)
        break
      case 'presence.announce':
        this.#presence = params as MethodParams<'presence.announce'>
        break
      case 'inspect.subscribe':
        this.#inspecting = true
        break
      case 'actors.subscribe': {
        const r = result as MethodResult<'actors.subscribe'>
        const sub: ActorSub = {
          id: r.subscription,
          current: r.subscription,
          prefix: (params.prefix as string) ?? '',
          seqs: new Map(),
          resyncing: false,
        }
        this.#resetSeqs(sub, r.actors)
        this.#actorSubs.set(sub.id, sub)
        break
      }
      case 'actors.unsubscribe': {
        const id = params.subscription as string
        if (id === 'inspect') this.#inspecting = false
        this.#actorSubs.delete(id)
        break
      }
    }
  }

  /** The daemon's id for a subscription the app names by the id it first got. */
  #outgoing(method: string, params: unknown): unknown {
    if (method !== 'actors.unsubscribe') return params
    const p = params as { subscription: string }
    const sub = this.#actorSubs.get(p.subscription)
    return sub ? { ...p, subscription: sub.current } : params
  }

  #resetSeqs(sub: ActorSub, actors: { systemId: string; seq: number }[]): void {
    sub.seqs.clear()
    for (const a of actors) sub.seqs.set(a.systemId, a.seq)
  }

  // ---- pushes ------------------------------------------------------------------------------

  #onMessage(text: string): void {
    let frame: {
      requestid: number | null
      isresponse: boolean
      result?: unknown
      error?: { code: number; message: string }
      method?: string
      params?: unknown
    }
    try {
      frame = JSON.parse(text)
    } catch {
      return
    }
    if (frame.isresponse) {
      const p = frame.requestid === null ? undefined : this.#pending.get(frame.requestid)
      if (!p) return
      this.#pending.delete(frame.requestid as number)
      p.cleanup()
      if (frame.error) p.reject(new SwitchboardError(frame.error.code, frame.error.message, p.method))
      else p.resolve(frame.result ?? null)
      return
    }
    const method = frame.method ?? ''
    let params = frame.params
    if (method === 'actor.snapshot' || method === 'actor.stopped') {
      params = this.#actorPush(method, params as { subscription: string; systemId: string; seq: number })
      if (params === undefined) return
    }
    if (method === 'peerFiles') {
      // the session peer's own listing names its directory root: come back with that one
      const p = params as PushParams<'peerFiles'>
      if (this.#peer && p.peerid === this.#peer.peerid && p.source === undefined) this.#peer.rootDirectory = p.cid
    }
    if (this.#opts.validate) {
      const schema = (pushSchemas as Record<string, TSchema>)[method]
      if (schema && !Value.Check(schema, params)) return
    }
    this.#emit(method, params)
  }

  /** Seq bookkeeping of one actor push: the app's subscription id, and a re-list on a gap. */
  #actorPush(method: 'actor.snapshot' | 'actor.stopped', params: { subscription: string; systemId: string; seq: number }) {
    const sub = [...this.#actorSubs.values()].find((s) => s.current === params.subscription)
    if (!sub) return params
    const last = sub.seqs.get(params.systemId)
    // a new actor starts at 1; a known one moves by one (actor.stopped carries the next seq)
    const gap = last === undefined ? params.seq > 1 : params.seq > last + 1
    if (method === 'actor.stopped') sub.seqs.delete(params.systemId)
    else if (last === undefined || params.seq > last) sub.seqs.set(params.systemId, params.seq)
    if (gap) void this.#relist(sub)
    return { ...params, subscription: sub.id }
  }

  async #relist(sub: ActorSub): Promise<void> {
    if (sub.resyncing) return
    sub.resyncing = true
    try {
      const { actors } = await this.#call('actors.list', { prefix: sub.prefix }, {}, true).then((r) => r as MethodResult<'actors.list'>)
      this.#resetSeqs(sub, actors)
      this.#emit('resync', { subscription: sub.id, prefix: sub.prefix, reason: 'gap', actors })
    } catch (err) {
      this.#emit('error', { error: err as Error, during: `actors.list ${sub.prefix}` })
    } finally {
      sub.resyncing = false
    }
  }

  #emit(event: string, params: unknown): void {
    for (const fn of this.#listeners.get(event) ?? []) {
      try {
        ;(fn as (p: unknown) => void)(params)
      } catch (err) {
        // a listener's bug must not break the client or other listeners
        queueMicrotask(() => {
          throw err
        })
      }
    }
  }
}
