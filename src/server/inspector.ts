import type { StatelyActorEvent, StatelyEventEvent, StatelySnapshotEvent } from '@statelyai/inspect'
import type { WebSocket } from 'ws'
import { Actor, type ActorRefLike, type AnyActorRef, type InspectionEvent, StateMachine } from 'xstate'
import type { ActorRegistry } from '../actors/supervisor/actor-registry.ts'
import { kindOfSystemId } from '../machines/catalog.ts'
import { machineDefinition } from '../machines/definition.ts'

/**
 * The `--inspect` stream: XState's inspection events as `@statelyai/inspect`'s WebSocket adapter
 * sends them (one JSON text frame per StatelyInspectionEvent), so its `createWebSocketReceiver`, the
 * page at GET /inspect and the Stately inspector can follow the daemon's actors live.
 *
 * What leaves the process: contexts only as the machines' public projections (catalog `project`),
 * actors without a catalog kind without context; events, outputs and errors in full but made
 * JSON-safe: byte arrays become `[Uint8Array n bytes]`, class instances their string form (peer ids,
 * multiaddrs) or `[ClassName]` (private keys, connections, signals), functions their name.
 *
 * Nothing here exists unless `--inspect` is on. With it on, the hub listens to the registry's
 * inspection stream only while a client is connected, and serialises each event once for all of them.
 */

/** `_version` of every event: the @statelyai/inspect release whose format this is (test/server/inspector.test.ts pins it). */
export const STATELY_INSPECT_VERSION = '0.7.2'

/** The library types `id` as string but its own adapters send `null`; so do we. */
type WithNullId<T> = Omit<T, 'id'> & { id: string | null }
export type InspectorFrame = WithNullId<StatelyActorEvent> | WithNullId<StatelyEventEvent> | WithNullId<StatelySnapshotEvent>

/** Events serialised since the process started: test/server/inspector.test.ts checks none are when `--inspect` is off. */
export const inspectorCounters = { serialised: 0 }

/** The event a replayed snapshot carries: it was not caused by an event the client saw. */
const REPLAY_EVENT = { type: 'switchboard.inspect.replay' }
const MAX_DEPTH = 10
/** A client this far behind is closed (1013) rather than let the daemon buffer its backlog. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024

const plainProto = (v: object) => {
  const p = Object.getPrototypeOf(v)
  return p === Object.prototype || p === null
}

/** A JSON-safe copy of `value`: bytes, functions, class instances and cycles replaced (see the module comment). */
export function jsonSafe(value: unknown, depth = 0, seen: Set<object> = new Set()): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value
    case 'number':
      return Number.isFinite(value) ? value : String(value)
    case 'bigint':
      return `${value}n`
    case 'undefined':
      return undefined
    case 'function':
      return `[function ${value.name || 'anonymous'}]`
    case 'symbol':
      return String(value)
  }
  if (value === null) return null
  const obj = value as object
  if (ArrayBuffer.isView(obj)) return `[${obj.constructor.name} ${obj.byteLength} bytes]`
  if (obj instanceof ArrayBuffer) return `[ArrayBuffer ${obj.byteLength} bytes]`
  if (depth >= MAX_DEPTH) return '[too deep]'
  if (seen.has(obj)) return '[circular]'
  seen.add(obj)
  try {
    if (Array.isArray(obj)) return obj.map((v) => jsonSafe(v, depth + 1, seen) ?? null)
    if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? null : obj.toISOString()
    if (obj instanceof Error) return { name: obj.name, message: obj.message }
    if (obj instanceof Actor) return { xstate$$type: 1, id: obj.id }
    if (obj instanceof Map) return [...obj].map(([k, v]) => [jsonSafe(k, depth + 1, seen), jsonSafe(v, depth + 1, seen)])
    if (obj instanceof Set) return [...obj].map((v) => jsonSafe(v, depth + 1, seen))
    if (!plainProto(obj)) {
      const name = obj.constructor?.name || 'Object'
      // key material never leaves, whatever string form it may have
      if (/private|secret/i.test(name)) return `[${name}]`
      // peer ids, multiaddrs, CIDs, public keys: their own string form
      if (typeof obj.toString === 'function' && obj.toString !== Object.prototype.toString) {
        try {
          return String(obj)
        } catch {
          return `[${name}]`
        }
      }
      return `[${name}]`
    }
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(obj)) {
      const safe = jsonSafe(v, depth + 1, seen)
      if (safe !== undefined) out[k] = safe
    }
    return out
  } finally {
    seen.delete(obj)
  }
}

interface SnapshotLike {
  status?: string
  value?: unknown
  context?: unknown
  tags?: Set<string>
  output?: unknown
  error?: unknown
  children?: Record<string, AnyActorRef | undefined>
}

const systemIdOf = (ref: ActorRefLike): string | undefined => (ref instanceof Actor ? ref.systemId : undefined)

/** What the inspector is shown of a snapshot: state, tags, the public context, outputs and errors made safe. */
function inspectedSnapshot(ref: ActorRefLike, snap: unknown) {
  const s = (snap ?? {}) as SnapshotLike
  const out: Record<string, unknown> = { status: s.status ?? 'active' }
  if ('value' in s) out.value = jsonSafe(s.value)
  if (s.tags instanceof Set) out.tags = [...s.tags].sort()
  if (s.context !== undefined) {
    const systemId = systemIdOf(ref)
    const kind = systemId === undefined ? undefined : kindOfSystemId(systemId)
    if (kind) out.context = jsonSafe(kind.project(s.context as never))
  }
  if (s.output !== undefined) out.output = jsonSafe(s.output)
  if (s.error !== undefined) out.error = jsonSafe(s.error)
  return out
}

/** Definitions are the same for every actor of one logic: stringified once. */
const definitions = new WeakMap<object, string>()
function definitionOf(ref: ActorRefLike, name: string): string {
  const logic = (ref as { logic?: { config?: unknown } }).logic
  const config = logic?.config
  if (!logic || typeof config !== 'object' || config === null) return JSON.stringify({ id: name })
  let def = definitions.get(logic)
  if (def === undefined) {
    // a machine: the definition machines.list gives, which createMachine accepts (effects named, targets as ids)
    const runnable = logic instanceof StateMachine ? safely(() => JSON.stringify(machineDefinition(logic))) : undefined
    def = runnable ?? JSON.stringify(jsonSafe(config))
    definitions.set(logic, def)
  }
  return def
}

const nameOf = (ref: ActorRefLike): string => (ref instanceof Actor ? (ref.systemId ?? ref.id) : ref.sessionId)

function actorFrame(ref: ActorRefLike, rootId: string | undefined): WithNullId<StatelyActorEvent> {
  const name = nameOf(ref)
  return {
    type: '@xstate.actor',
    name,
    definition: definitionOf(ref, name),
    _version: STATELY_INSPECT_VERSION,
    createdAt: Date.now().toString(),
    id: null,
    rootId,
    parentId: (ref as { _parent?: ActorRefLike })._parent?.sessionId,
    sessionId: ref.sessionId,
    snapshot: inspectedSnapshot(ref, ref.getSnapshot()),
  }
}

/** One XState inspection event as the WebSocket adapter would send it; microsteps and actions are not sent (neither are they by the library). */
export function toFrame(ev: InspectionEvent): InspectorFrame | undefined {
  switch (ev.type) {
    case '@xstate.actor':
      return actorFrame(ev.actorRef, ev.rootId)
    case '@xstate.event':
      return {
        type: '@xstate.event',
        event: jsonSafe(ev.event) as StatelyEventEvent['event'],
        sourceId: ev.sourceRef?.sessionId,
        sessionId: ev.actorRef.sessionId,
        _version: STATELY_INSPECT_VERSION,
        createdAt: Date.now().toString(),
        id: null,
        rootId: ev.rootId,
      }
    case '@xstate.snapshot':
      return {
        type: '@xstate.snapshot',
        event: jsonSafe(ev.event) as StatelySnapshotEvent['event'],
        snapshot: inspectedSnapshot(ev.actorRef, ev.snapshot) as never,
        sessionId: ev.actorRef.sessionId,
        _version: STATELY_INSPECT_VERSION,
        createdAt: Date.now().toString(),
        id: null,
        rootId: ev.rootId,
      }
    default:
      return undefined
  }
}

function encode(frame: InspectorFrame): string {
  inspectorCounters.serialised += 1
  return JSON.stringify(frame)
}

/**
 * The live actor tree, parents first, as `@xstate.actor` frames each followed by a `@xstate.snapshot`
 * of where it is now: what a client joining late needs before the live stream makes sense.
 */
function* replay(root: AnyActorRef): Generator<InspectorFrame> {
  const rootId = root.sessionId
  const queue: AnyActorRef[] = [root]
  for (let i = 0; i < queue.length; i++) {
    const ref = queue[i] as AnyActorRef
    const snap = ref.getSnapshot() as SnapshotLike | undefined
    if (snap?.status !== 'active') continue
    for (const child of Object.values(snap.children ?? {})) if (child) queue.push(child)
    const frame = safely(() => actorFrame(ref, rootId))
    if (!frame) continue
    yield frame
    yield {
      type: '@xstate.snapshot',
      event: REPLAY_EVENT,
      snapshot: frame.snapshot as never,
      sessionId: ref.sessionId,
      _version: STATELY_INSPECT_VERSION,
      createdAt: frame.createdAt,
      id: null,
      rootId,
    }
  }
}

/** A frame that cannot be made (a projection that throws on an odd context) is left out: the inspector must never take the daemon down. */
function safely<T>(make: () => T): T | undefined {
  try {
    return make()
  } catch {
    return undefined
  }
}

/**
 * The clients of /inspect and the one registry listener they share. Each client may have
 * MAX_BUFFERED_BYTES unsent on top of its replay (which is as large as the actor tree), else it is closed.
 */
export class InspectorHub {
  /** Each client and the bytes of its replay. */
  readonly #clients = new Map<WebSocket, number>()
  #pending: InspectionEvent[] = []
  #flushing: ReturnType<typeof setImmediate> | undefined
  #unlisten: (() => void) | undefined

  constructor(
    private readonly registry: Pick<ActorRegistry, 'onInspect'>,
    private readonly root: () => AnyActorRef,
    private readonly maxBufferedBytes = MAX_BUFFERED_BYTES,
  ) {}

  get clients(): number {
    return this.#clients.size
  }

  /** A new client: everything alive now, then every event from here on. */
  add(socket: WebSocket): void {
    // those already connected get what happened so far first, so the newcomer's replay is not followed by older events
    this.#flush()
    let replayBytes = 0
    for (const frame of replay(this.root())) {
      const text = encode(frame)
      replayBytes += text.length
      if (!this.#send(socket, text, Number.POSITIVE_INFINITY)) return
    }
    this.#clients.set(socket, replayBytes)
    this.#unlisten ??= this.registry.onInspect(this.#onEvent)
    const drop = () => this.#remove(socket)
    socket.once('close', drop)
    socket.once('error', drop)
    // the stream is one way; anything a client sends is ignored
    socket.on('message', () => {})
  }

  close(): void {
    for (const socket of this.#clients.keys()) socket.close(1001, 'daemon stopping')
    this.#clients.clear()
    this.#stop()
  }

  #remove(socket: WebSocket): void {
    this.#clients.delete(socket)
    if (this.#clients.size === 0) this.#stop()
  }

  #stop(): void {
    this.#unlisten?.()
    this.#unlisten = undefined
    this.#pending = []
    if (this.#flushing) clearImmediate(this.#flushing)
    this.#flushing = undefined
  }

  readonly #onEvent = (ev: InspectionEvent): void => {
    if (ev.type !== '@xstate.actor' && ev.type !== '@xstate.event' && ev.type !== '@xstate.snapshot') return
    this.#pending.push(ev)
    // converted a tick later, as the library does: an actor's first snapshot and systemId exist only after its constructor
    this.#flushing ??= setImmediate(() => this.#flush())
  }

  #flush(): void {
    if (this.#flushing) clearImmediate(this.#flushing)
    this.#flushing = undefined
    const batch = this.#pending
    this.#pending = []
    for (const ev of batch) {
      if (this.#clients.size === 0) return
      const frame = safely(() => toFrame(ev))
      if (!frame) continue
      const text = encode(frame)
      for (const [socket, replayBytes] of this.#clients) this.#send(socket, text, replayBytes)
    }
  }

  /** False when the socket is gone or was closed for falling behind. */
  #send(socket: WebSocket, text: string, allowance: number): boolean {
    if (socket.readyState !== socket.OPEN) {
      this.#remove(socket)
      return false
    }
    if (socket.bufferedAmount > this.maxBufferedBytes + allowance) {
      this.#remove(socket)
      socket.close(1013, 'inspector client too slow')
      return false
    }
    socket.send(text)
    return true
  }
}
