/**
 * The low-level client the tests, benchmarks and CLI use: one socket, no reconnect, result types
 * chosen by the caller. Apps use the client library instead (src/client/client.ts, exported as
 * `switchboard/client`): typed by the protocol's schemas, with timeouts and reconnect.
 * Requests run concurrently and resolve with their result; errors reject with a SwitchboardError
 * carrying the protocol code; pushes reach `on(method, fn)` listeners.
 */
export class SwitchboardError extends Error {
  override name = 'SwitchboardError'
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(`${code}: ${message}`)
  }
}

export interface PushFrame<P = unknown> {
  requestid: number
  isresponse: false
  method: string
  params: P
}

type WebSocketCtor = new (url: string, protocols?: string | string[], options?: unknown) => WebSocket

export interface ConnectOptions {
  token?: string
  /** Extra options for the Node `ws` constructor (headers such as Origin). */
  wsOptions?: Record<string, unknown>
  WebSocket?: WebSocketCtor
}

export class SwitchboardClient {
  #next = 0
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  readonly #listeners = new Map<string, Set<(params: unknown, frame: PushFrame) => void>>()
  readonly closed: Promise<{ code: number; reason: string }>

  private constructor(readonly socket: WebSocket) {
    socket.addEventListener('message', (ev) => this.#onMessage(String((ev as MessageEvent).data)))
    this.closed = new Promise((resolve) => {
      socket.addEventListener('close', (ev) => {
        const e = ev as CloseEvent
        for (const p of this.#pending.values()) p.reject(new SwitchboardError(0, `socket closed (${e.code})`))
        this.#pending.clear()
        resolve({ code: e.code, reason: e.reason })
      })
    })
  }

  /** Open a socket to `url` (ws://host:port/ws) and wait until it is open. */
  static async connect(url: string, opts: ConnectOptions = {}): Promise<SwitchboardClient> {
    const Ctor = opts.WebSocket ?? (globalThis.WebSocket as unknown as WebSocketCtor)
    const target = opts.token ? `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(opts.token)}` : url
    const socket = opts.wsOptions ? new Ctor(target, undefined, opts.wsOptions) : new Ctor(target)
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener('open', () => resolve(), { once: true })
      socket.addEventListener('error', () => reject(new SwitchboardError(0, `cannot connect to ${url}`)), { once: true })
    })
    return new SwitchboardClient(socket)
  }

  /** Call a method; resolves with its result, rejects with SwitchboardError. */
  call<T = unknown>(method: string, params: unknown = {}): Promise<T> {
    const requestid = ++this.#next
    if (this.socket.readyState !== this.socket.OPEN)
      return Promise.reject(new SwitchboardError(0, `socket is not open (readyState ${this.socket.readyState})`))
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(requestid, { resolve: resolve as (v: unknown) => void, reject })
      this.socket.send(JSON.stringify({ requestid, method, params }))
    })
  }

  /** Listen to a push by method name; returns the function that stops listening. */
  on<P = unknown>(method: string, fn: (params: P, frame: PushFrame<P>) => void): () => void {
    let set = this.#listeners.get(method)
    if (!set) {
      set = new Set()
      this.#listeners.set(method, set)
    }
    set.add(fn as (params: unknown, frame: PushFrame) => void)
    return () => set.delete(fn as (params: unknown, frame: PushFrame) => void)
  }

  /** Resolve with the first push of `method` whose params satisfy `predicate`. */
  waitFor<P = unknown>(method: string, predicate: (params: P) => boolean = () => true, timeoutMs = 30_000): Promise<P> {
    return new Promise<P>((resolve, reject) => {
      const timer = setTimeout(() => {
        off()
        reject(new SwitchboardError(504, `no ${method} push matched within ${timeoutMs} ms`))
      }, timeoutMs)
      const off = this.on<P>(method, (params) => {
        if (!predicate(params)) return
        clearTimeout(timer)
        off()
        resolve(params)
      })
    })
  }

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
      if (frame.error) p.reject(new SwitchboardError(frame.error.code, frame.error.message))
      else p.resolve(frame.result)
      return
    }
    for (const fn of this.#listeners.get(frame.method ?? '') ?? []) fn(frame.params, frame as PushFrame)
  }

  close(): Promise<{ code: number; reason: string }> {
    this.socket.close()
    return this.closed
  }
}
