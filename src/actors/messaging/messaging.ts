/**
 * Direct messages of one local node (`start`, `stop`, `send`, `peerData`, `ack`): the protocol
 * handlers its connections started (reference-counted), one channel per (remote peer, protocol)
 * with its ordered queue and reused stream, and end-to-end acks. Wire format: message-codec.ts.
 */
import { randomBytes } from 'node:crypto'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { dialSignal } from '../../p2p/dial-signal.ts'
import {
  checkProtocolId,
  dataFrame,
  decodeData,
  encodeMessageFrame,
  MAX_MESSAGE_FRAME_BYTES,
  type MessageFrame,
} from '../../p2p/message-codec.ts'
import { TokenBucket } from '../../p2p/token-bucket.ts'
import type { Reputation } from '../../p2p/reputation.ts'
import { InvalidInputError } from '../../p2p/validate.ts'
import type { ActivityLog } from '../activity-log.ts'
import { actorLookup, type NodeRef } from '../../machines/actor-refs.ts'
import { NodeNotRunningError } from '../node/node-runtimes.ts'
import { Channel, type ChannelHost, type ChannelTimers, type Listener, type Outgoing } from './channel.ts'
import { MessageTooLargeError, ProtocolNotStartedError, QueueFullError, ReservedProtocolError } from './errors.ts'
import { WireStream } from './wire-stream.ts'
import { KeyedSerial } from '../../p2p/serial.ts'

export type { Listener } from './channel.ts'

export interface MessagingOptions {
  /** How long a message is retried while its peer is unreachable (ms). */
  retryWindowMs: number
  /** An outbound stream with nothing in flight is closed after this long (ms). */
  idleMs: number
  /** Messages waiting for one remote peer, all protocols together. */
  queueLimit: number
  maxFrameBytes?: number
  /** Opening one stream on an existing connection may take this long (ms). */
  streamTimeoutMs: number
  /** Inbound messages one remote peer may send at once, and per second after that; beyond is a flood. */
  inboundBurst: number
  inboundPerSecond: number
}

export interface MessagingDeps {
  alias: string
  libp2p: Libp2p
  /** Reach a peer through its peer actor, so the dial shows in its state; resolves once connected or failed. */
  connect(peerId: string, signal: AbortSignal): Promise<{ success: boolean; error?: string }>
  /** The last error of the peer's actor, if it has one. */
  lastDialError(peerId: string): string | undefined
  /** The node actor, which spawns a channel actor per (remote peer, protocol). */
  node(): NodeRef | undefined
  reputation: Pick<Reputation, 'violation'>
  activity: ActivityLog
}

/** Protocols the node or libp2p own, whether or not they are registered yet. */
const RESERVED_PREFIXES = ['/ipfs/', '/libp2p/', '/meshsub/', '/floodsub/', '/p2p-webapp/', '/multistream/']
/** Inbound streams one connection may open per protocol: one in use plus a few being replaced. */
const MAX_INBOUND_STREAMS = 16

interface Started {
  listeners: Set<Listener>
  /** The libp2p handler registration; starters wait for it. */
  ready: Promise<void>
}

export class MessagingService implements ChannelHost {
  readonly #controller = new AbortController()
  readonly #started = new Map<string, Started>()
  /** Each remote peer's inbound budget, and when a flood last cost it reputation. */
  readonly #inbound = new Map<string, { bucket: TokenBucket; chargedAt: number }>()
  /** Protocols whose handler is ours (registered and not yet unregistered). */
  readonly #ours = new Set<string>()
  /** handle/unhandle calls per protocol, one after the other. */
  readonly #perProtocol = new KeyedSerial<string>()
  readonly #byListener = new Map<Listener, Set<string>>()
  readonly #channels = new Map<string, Channel>()
  /** Messages and bytes waiting per remote peer. */
  readonly #load = new Map<string, { count: number; bytes: number }>()
  readonly #idPrefix = randomBytes(6).toString('hex')
  #nextId = 0
  readonly #onConnection = (evt: CustomEvent<Connection>) => {
    const peerId = evt.detail.remotePeer.toString()
    for (const c of this.#channels.values()) if (c.peerId === peerId) c.wake()
  }
  readonly maxFrameBytes: number
  readonly self: string

  constructor(
    readonly deps: MessagingDeps,
    readonly options: MessagingOptions,
  ) {
    this.maxFrameBytes = options.maxFrameBytes ?? MAX_MESSAGE_FRAME_BYTES
    this.self = deps.libp2p.peerId.toString()
    deps.libp2p.addEventListener('connection:open', this.#onConnection)
  }

  get signal(): AbortSignal {
    return this.#controller.signal
  }

  get retryWindowMs(): number {
    return this.options.retryWindowMs
  }

  readonly timers: ChannelTimers = {
    now: Date.now,
    setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
    clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  }

  get idleMs(): number {
    return this.options.idleMs
  }

  /** Messages waiting for acks from `peerId` (all protocols). */
  pending(peerId: string): number {
    return this.#load.get(peerId)?.count ?? 0
  }

  isStarted(protocol: string, listener: Listener): boolean {
    return this.#started.get(protocol)?.listeners.has(listener) === true
  }

  // ---- start / stop ---------------------------------------------------------------------

  /** `listener` wants `peerData` for `protocol`; the first one registers the libp2p handler. */
  async startProtocol(protocol: string, listener: Listener): Promise<void> {
    checkProtocolId(protocol)
    this.signal.throwIfAborted()
    // a socket that closed meanwhile would never run the cleanup registered below
    listener.signal.throwIfAborted()
    let entry = this.#started.get(protocol)
    if (!entry) {
      if (this.#reserved(protocol)) throw new ReservedProtocolError(protocol)
      const created: Started = { listeners: new Set(), ready: Promise.resolve() }
      created.ready = this.#serial(protocol, async () => {
        await this.deps.libp2p.handle(protocol, (stream, connection) => this.#onInbound(stream, connection), {
          maxInboundStreams: MAX_INBOUND_STREAMS,
          runOnLimitedConnection: true,
        })
        this.#ours.add(protocol)
      })
      created.ready.catch(() => {
        // nobody may stay subscribed to a handler that never came
        if (this.#started.get(protocol) === created) this.#started.delete(protocol)
        for (const l of created.listeners) this.#byListener.get(l)?.delete(protocol)
      })
      this.#started.set(protocol, created)
      entry = created
    }
    entry.listeners.add(listener)
    let mine = this.#byListener.get(listener)
    if (!mine) {
      mine = new Set()
      this.#byListener.set(listener, mine)
      listener.onClose(() => this.#dropListener(listener))
    }
    mine.add(protocol)
    await entry.ready
  }

  /** `listener` no longer wants `protocol`; the last one out unregisters the handler. */
  async stopProtocol(protocol: string, listener: Listener): Promise<void> {
    const entry = this.#started.get(protocol)
    if (!entry?.listeners.has(listener)) throw new ProtocolNotStartedError(protocol)
    entry.listeners.delete(listener)
    this.#byListener.get(listener)?.delete(protocol)
    if (entry.listeners.size === 0) await this.#release(protocol, entry)
  }

  async #dropListener(listener: Listener): Promise<void> {
    const protocols = this.#byListener.get(listener)
    this.#byListener.delete(listener)
    for (const protocol of protocols ?? []) {
      const entry = this.#started.get(protocol)
      if (!entry) continue
      entry.listeners.delete(listener)
      if (entry.listeners.size === 0) await this.#release(protocol, entry)
    }
  }

  async #release(protocol: string, entry: Started): Promise<void> {
    if (this.#started.get(protocol) !== entry) return
    this.#started.delete(protocol)
    await this.#serial(protocol, async () => {
      if (!this.#ours.has(protocol)) return
      await this.deps.libp2p.unhandle(protocol).catch(() => {})
      this.#ours.delete(protocol)
    }).catch(() => {})
    // a remote still holding a stream would keep sending into the void: close them, so its next
    // message negotiates afresh and is refused with a reason
    if (this.#started.has(protocol)) return
    for (const c of this.#channels.values()) {
      if (c.protocol !== protocol) continue
      for (const ws of [...c.streams]) if (ws.direction === 'inbound') ws.close()
    }
  }

  #reserved(protocol: string): boolean {
    if (RESERVED_PREFIXES.some((p) => protocol.startsWith(p))) return true
    return !this.#ours.has(protocol) && this.deps.libp2p.getProtocols().includes(protocol)
  }

  #serial(protocol: string, fn: () => Promise<void>): Promise<void> {
    return this.#perProtocol.run(protocol, fn)
  }

  // ---- send -----------------------------------------------------------------------------

  /** Queue `data` for `peer` on `protocol`; the `ack` push (if `ack >= 0`) follows when it settles. */
  send(listener: Listener, peer: string, protocol: string, data: unknown, ack: number): void {
    this.signal.throwIfAborted()
    if (!this.isStarted(protocol, listener)) throw new ProtocolNotStartedError(protocol)
    if (peer === this.self) throw new InvalidInputError('peer', `${peer} is this local peer itself`)
    const id = `${this.#idPrefix}-${++this.#nextId}`
    const frame = dataFrame(id, JSON.stringify(data))
    if (frame.length - 4 > this.maxFrameBytes) throw new MessageTooLargeError(frame.length - 4, this.maxFrameBytes)
    const load = this.#load.get(peer) ?? { count: 0, bytes: 0 }
    if (load.count >= this.options.queueLimit) throw new QueueFullError(peer, `${load.count} messages wait for acks`)
    const byteLimit = 4 * this.maxFrameBytes
    if (load.bytes + frame.length > byteLimit)
      throw new QueueFullError(peer, `${load.bytes} bytes wait for acks, the limit is ${byteLimit}`)
    load.count += 1
    load.bytes += frame.length
    this.#load.set(peer, load)
    this.#channel(peer, protocol).enqueue({ id, frame, ack, sender: listener, deadline: Date.now() + this.options.retryWindowMs })
  }

  lastDialError(peerId: string): string | undefined {
    return this.deps.lastDialError(peerId)
  }

  settle(channel: Channel, messages: Outgoing[], delivered: boolean, error?: string): void {
    const load = this.#load.get(channel.peerId)
    for (const m of messages) {
      if (load) {
        load.count -= 1
        load.bytes -= m.frame.length
      }
      if (m.ack >= 0 && !m.sender.signal.aborted)
        m.sender.push('ack', delivered ? { ack: m.ack, delivered } : { ack: m.ack, delivered, error })
    }
    if (load && load.count <= 0) this.#load.delete(channel.peerId)
    if (!delivered && messages.length > 0) {
      const what = messages.length === 1 ? 'a direct message' : `${messages.length} direct messages`
      this.deps.activity.add({
        type: 'error',
        alias: this.deps.alias,
        peerId: channel.peerId,
        message: `${what} on ${channel.protocol} not delivered: ${error}`,
      })
    }
  }

  // ---- streams --------------------------------------------------------------------------

  async openStream(peerId: string, protocol: string, signal: AbortSignal): Promise<Stream> {
    const id = peerIdFromString(peerId)
    let conn = this.#connection(peerId)
    if (!conn) {
      const result = await this.deps.connect(peerId, signal)
      if (!result.success) throw new Error(result.error ?? `cannot reach ${peerId}`)
      conn = this.#connection(peerId)
      if (!conn) throw new Error(`the connection to ${id} closed as soon as it opened`)
    }
    // never the long-lived signal itself: libp2p ties what it opens to the signal it was given
    const { signal: opening, release } = dialSignal(signal, this.options.streamTimeoutMs)
    try {
      return await conn.newStream(protocol, { signal: opening, runOnLimitedConnection: true })
    } finally {
      release()
    }
  }

  /** An open connection to the peer, direct ones before relayed (limited) ones. */
  #connection(peerId: string): Connection | undefined {
    const open = this.deps.libp2p.getConnections(peerIdFromString(peerId)).filter((c) => c.status === 'open')
    return open.find((c) => c.limits === undefined) ?? open[0]
  }

  attach(stream: Stream, channel: Channel): WireStream {
    const ws = new WireStream(
      stream,
      {
        onFrame: (frame, from) => this.#onFrame(channel, frame, from),
        onMalformed: (err) => this.#violation(channel, err),
        onEnded: (ended) => channel.streamEnded(ended),
      },
      this.maxFrameBytes,
    )
    channel.attached(ws)
    return ws
  }

  #onInbound(stream: Stream, connection: Connection): void {
    const protocol = stream.protocol
    if (this.signal.aborted || !this.#started.has(protocol)) {
      stream.abort(new Error(`${protocol} is not started`))
      return
    }
    let channel: Channel
    try {
      channel = this.#channel(connection.remotePeer.toString(), protocol)
    } catch (err) {
      stream.abort(err as Error)
      return
    }
    const ws = this.attach(stream, channel)
    if (ws.usable) channel.adopt(ws)
  }

  /** The channel to `peerId` on `protocol`; a new one gets its actor from the node (NodeNotRunningError when it is not running). */
  #channel(peerId: string, protocol: string): Channel {
    const key = `${peerId} ${protocol}`
    const existing = this.#channels.get(key)
    if (existing) return existing
    const node = this.deps.node()
    if (!node) throw new NodeNotRunningError(this.deps.alias)
    const channel = new Channel(peerId, protocol, this)
    // in the map first: the actor's effects find their channel here
    this.#channels.set(key, channel)
    node.send({ type: 'channels.ensure', peerId, protocol, idleMs: this.options.idleMs, retryWindowMs: this.options.retryWindowMs })
    const actor = actorLookup(node.system).channel(this.deps.alias, peerId, protocol)
    if (actor?.getSnapshot().status !== 'active') {
      this.#channels.delete(key)
      throw new NodeNotRunningError(this.deps.alias)
    }
    channel.actor = actor
    return channel
  }

  /** The channel of a channel actor (its effects look it up here). */
  channelOf(peerId: string, protocol: string): Channel | undefined {
    return this.#channels.get(`${peerId} ${protocol}`)
  }

  /** A channel's actor closed (long unused, nothing waiting, no stream): forget it, and its peer's inbound budget with its last channel. */
  release(channel: Channel): void {
    const key = `${channel.peerId} ${channel.protocol}`
    if (this.#channels.get(key) !== channel) return
    this.#channels.delete(key)
    for (const c of this.#channels.values()) if (c.peerId === channel.peerId) return
    this.#inbound.delete(channel.peerId)
  }

  #onFrame(channel: Channel, frame: MessageFrame, ws: WireStream): void {
    if (frame.type === 'ack') channel.acked(frame.id)
    else if (frame.type === 'nack') channel.refused(frame.id, frame.error)
    else this.#deliver(channel, frame.id, frame.data, ws)
  }

  /** Hand a message to every connection that started its protocol, then confirm (or refuse) it. */
  #deliver(channel: Channel, id: string, base64: string, ws: WireStream): void {
    // a copy resent after a lost ack: confirm again, deliver once
    if (channel.delivered.has(id)) {
      ws.write(encodeMessageFrame({ type: 'ack', id }))
      return
    }
    // a copy is answered above without charging the budget: resends after a lost ack are no flood
    if (!this.#withinBudget(channel)) {
      ws.write(
        encodeMessageFrame({
          type: 'nack',
          id,
          error: `rate limited: over ${this.options.inboundPerSecond} messages/s from ${channel.peerId}`,
        }),
      )
      return
    }
    const listeners = [...(this.#started.get(channel.protocol)?.listeners ?? [])].filter((l) => !l.signal.aborted)
    if (listeners.length === 0) {
      ws.write(encodeMessageFrame({ type: 'nack', id, error: `protocol ${channel.protocol} is not started on peer ${this.self}` }))
      return
    }
    let data: unknown
    try {
      data = decodeData(base64)
    } catch (err) {
      ws.write(encodeMessageFrame({ type: 'nack', id, error: (err as Error).message }))
      ws.close()
      this.#violation(channel, err as Error)
      return
    }
    for (const l of listeners) l.push('peerData', { peer: channel.peerId, protocol: channel.protocol, data })
    channel.delivered.add(id)
    ws.write(encodeMessageFrame({ type: 'ack', id }))
  }

  /** Take one message from the peer's budget; a peer over it is flooding, which costs it once a second. */
  #withinBudget(channel: Channel): boolean {
    let budget = this.#inbound.get(channel.peerId)
    if (!budget) {
      budget = { bucket: new TokenBucket(this.options.inboundBurst, this.options.inboundPerSecond), chargedAt: 0 }
      this.#inbound.set(channel.peerId, budget)
    }
    if (budget.bucket.take()) return true
    const now = Date.now()
    if (now - budget.chargedAt >= 1000) {
      budget.chargedAt = now
      this.deps.reputation.violation(channel.peerId, 'flood')
      this.deps.activity.add({
        type: 'error',
        alias: this.deps.alias,
        peerId: channel.peerId,
        message: `direct-message flood from ${channel.peerId} on ${channel.protocol}: refused`,
      })
    }
    return false
  }

  #violation(channel: Channel, err: Error): void {
    try {
      this.deps.reputation.violation(channel.peerId, 'malformed-frame')
    } catch {
      // a peer id the reputation store refuses is still cut off; nothing more to record
    }
    this.deps.activity.add({
      type: 'error',
      alias: this.deps.alias,
      peerId: channel.peerId,
      message: `malformed direct message on ${channel.protocol}: ${err.message}; stream cut`,
    })
  }

  /** Stop with the node: waiting messages fail (`delivered: false`), handlers and streams go. */
  async stop(): Promise<void> {
    if (this.signal.aborted) return
    this.#controller.abort(new Error(`local peer ${this.deps.alias} stopped`))
    this.deps.libp2p.removeEventListener('connection:open', this.#onConnection)
    for (const c of this.#channels.values()) c.shutdown(`local peer ${this.deps.alias} stopped`)
    this.#channels.clear()
    const protocols = [...this.#ours]
    this.#started.clear()
    this.#byListener.clear()
    await Promise.allSettled(protocols.map((p) => this.deps.libp2p.unhandle(p)))
    this.#ours.clear()
  }
}
