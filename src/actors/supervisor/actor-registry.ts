import { Actor, type AnyActor, type AnyActorRef, type InspectionEvent, type Snapshot } from 'xstate'
import { parentSystemId } from '../../machines/actor-ids.ts'
import { kindOfSystemId, type MachineKind } from '../../machines/catalog.ts'

/** What a client sees of one actor (protocol.md "Snapshot"). */
export interface ActorSnapshot {
  systemId: string
  kind: string
  parent: string | null
  value: unknown
  status: string
  tags: string[]
  context: unknown
  seq: number
}

export type RegistryChange =
  | { type: 'snapshot'; snapshot: ActorSnapshot }
  | { type: 'stopped'; systemId: string; kind: string; seq: number }

interface Entry {
  ref: AnyActor
  snapshot: ActorSnapshot
  /** The kind's catalog entry, looked up once per actor (its id never changes). */
  kind: MachineKind
  /** The machine snapshot's own context and value as last seen: unchanged, the view cannot have changed. */
  rawContext: unknown
  rawValue: unknown
}

interface MachineSnapshotLike {
  value: unknown
  status: string
  tags?: Set<string>
  context?: unknown
}

/** Every actor this registry reports is a state machine; anything else (a bare promise actor) has no value to show. */
const isMachineSnapshot = (snap: Snapshot<unknown> | undefined): snap is Snapshot<unknown> & MachineSnapshotLike =>
  snap !== undefined && 'value' in snap

/** Tells the registry when one actor stops: an object per actor, not two closures (each a defineProperty under tsx's keepNames). */
class StopObserver {
  constructor(
    readonly onStop: (systemId: string, ref: AnyActor) => void,
    readonly systemId: string,
    readonly ref: AnyActor,
  ) {}
  complete(): void {
    this.onStop(this.systemId, this.ref)
  }
  error(): void {
    this.onStop(this.systemId, this.ref)
  }
}

/**
 * Derives the client view of every long-lived actor from XState's inspection stream: the one place
 * that turns snapshots into projections with a per-actor `seq`. It holds no state of its own beyond that.
 */
export class ActorRegistry {
  readonly #entries = new Map<string, Entry>()
  readonly #listeners = new Set<(change: RegistryChange) => void>()
  readonly #inspectors = new Set<(event: InspectionEvent) => void>()
  readonly #onStop = (systemId: string, ref: AnyActor): void => this.#stopped(systemId, ref)

  /** Pass as `inspect` to createActor. */
  readonly inspect = (event: InspectionEvent): void => {
    // inspection hands out the narrow ActorRefLike; the real actor (an `Actor`) carries its public systemId
    if (event.type === '@xstate.snapshot' && event.actorRef instanceof Actor) this.#update(event.actorRef, event.snapshot)
    for (const fn of this.#inspectors) fn(event)
  }

  #update(ref: AnyActor, snap: Snapshot<unknown> | undefined): void {
    const systemId = ref.systemId
    if (systemId === undefined || !isMachineSnapshot(snap)) return
    let entry = this.#entries.get(systemId)
    // the hot path (an event that changed nothing a client sees, e.g. one a node or a shard only
    // routes): XState keeps the context object when no assign ran, and the value fixes the tags
    if (
      entry !== undefined &&
      entry.ref === ref &&
      snap.context === entry.rawContext &&
      snap.status === entry.snapshot.status &&
      (snap.value === entry.rawValue || (typeof snap.value === 'object' && sameJson(snap.value, entry.snapshot.value)))
    )
      return
    if (entry && entry.ref !== ref) {
      // a restarted actor under the same id: the old one is gone
      this.#entries.delete(systemId)
      this.#emit({ type: 'stopped', systemId, kind: entry.snapshot.kind, seq: entry.snapshot.seq + 1 })
      entry = undefined
    }
    const kind = entry?.kind ?? kindOfSystemId(systemId)
    if (!kind) return
    const next: ActorSnapshot = {
      systemId,
      kind: kind.kind,
      parent: entry ? entry.snapshot.parent : parentSystemId(systemId),
      value: snap.value,
      status: snap.status,
      tags: sortedTags(ref.logic, snap.value, snap.tags),
      context: snap.context === undefined ? null : kind.project(snap.context as never),
      seq: entry ? entry.snapshot.seq : 0,
    }
    if (entry && sameView(entry.snapshot, next)) {
      entry.rawContext = snap.context
      entry.rawValue = snap.value
      return
    }
    // an actor already reported stopped can still emit its last snapshot (e.g. when its parent stops it): do not resurrect it
    if (!entry && snap.status !== 'active') return
    next.seq += 1
    if (!entry) {
      this.#entries.set(systemId, { ref, snapshot: next, kind, rawContext: snap.context, rawValue: snap.value })
      ref.subscribe(new StopObserver(this.#onStop, systemId, ref))
    } else {
      entry.snapshot = next
      entry.rawContext = snap.context
      entry.rawValue = snap.value
    }
    this.#emit({ type: 'snapshot', snapshot: next })
  }

  #stopped(systemId: string, ref: AnyActor): void {
    const entry = this.#entries.get(systemId)
    if (!entry || entry.ref !== ref) return
    this.#update(ref, ref.getSnapshot())
    this.#entries.delete(systemId)
    this.#emit({ type: 'stopped', systemId, kind: entry.snapshot.kind, seq: entry.snapshot.seq + 1 })
  }

  #emit(change: RegistryChange): void {
    for (const fn of this.#listeners) fn(change)
  }

  list(prefix = ''): ActorSnapshot[] {
    return [...this.#entries.values()]
      .map((e) => e.snapshot)
      .filter((s) => s.systemId.startsWith(prefix))
      .sort((a, b) => a.systemId.localeCompare(b.systemId))
  }

  get(systemId: string): ActorSnapshot | undefined {
    return this.#entries.get(systemId)?.snapshot
  }

  ref(systemId: string): AnyActorRef | undefined {
    return this.#entries.get(systemId)?.ref
  }

  listen(fn: (change: RegistryChange) => void): () => void {
    this.#listeners.add(fn)
    return () => this.#listeners.delete(fn)
  }

  onInspect(fn: (event: InspectionEvent) => void): () => void {
    this.#inspectors.add(fn)
    return () => this.#inspectors.delete(fn)
  }

  countByKindAndState(): Map<string, number> {
    const counts = new Map<string, number>()
    for (const { snapshot } of this.#entries.values()) {
      const key = `${snapshot.kind}\u0000${typeof snapshot.value === 'string' ? snapshot.value : JSON.stringify(snapshot.value)}`
      counts.set(key, (counts.get(key) ?? 0) + 1)
    }
    return counts
  }
}

function sameView(a: ActorSnapshot, b: ActorSnapshot): boolean {
  return (
    a.status === b.status &&
    a.parent === b.parent &&
    sameJson(a.value, b.value) &&
    (a.tags === b.tags || a.tags.join() === b.tags.join()) &&
    sameJson(a.context, b.context)
  )
}

/**
 * Whether two JSON-shaped values would stringify alike, without stringifying them (a view of 100k
 * peer actors kept its JSON beside it: ~400 bytes an actor, and a stringify per change). Keys are
 * compared in order, as JSON.stringify writes them; an undefined property counts as absent.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (hasToJson(a) || hasToJson(b)) return JSON.stringify(a) === JSON.stringify(b)
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
    // NaN and the infinities stringify as null
    if (typeof a === 'number' && typeof b === 'number') return !Number.isFinite(a) && !Number.isFinite(b)
    if ((typeof a === 'number' && !Number.isFinite(a) && b === null) || (typeof b === 'number' && !Number.isFinite(b) && a === null))
      return true
    return false
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i] ?? null, b[i] ?? null)) return false
    return true
  }
  const ak = definedKeys(a as Record<string, unknown>)
  const bk = definedKeys(b as Record<string, unknown>)
  if (ak.length !== bk.length) return false
  for (let i = 0; i < ak.length; i++) {
    const k = ak[i] as string
    if (k !== bk[i] || !sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false
  }
  return true
}

const hasToJson = (v: unknown) => typeof v === 'object' && v !== null && typeof (v as { toJSON?: unknown }).toJSON === 'function'

function definedKeys(o: Record<string, unknown>): string[] {
  const keys: string[] = []
  for (const k of Object.keys(o)) {
    const v = o[k]
    if (v !== undefined && typeof v !== 'function' && typeof v !== 'symbol') keys.push(k)
  }
  return keys
}

/**
 * A snapshot's tags, sorted. A machine's tags follow from its state value, so one sorted array per
 * machine and (string) value is shared by every actor in that state rather than one per actor and change.
 */
const tagsByValue = new WeakMap<object, Map<string, string[]>>()
function sortedTags(logic: unknown, value: unknown, tags: Set<string> | undefined): string[] {
  if (typeof value !== 'string' || typeof logic !== 'object' || logic === null) return [...(tags ?? [])].sort()
  let byValue = tagsByValue.get(logic)
  if (byValue === undefined) {
    byValue = new Map()
    tagsByValue.set(logic, byValue)
  }
  let sorted = byValue.get(value)
  if (sorted === undefined || sorted.length !== (tags?.size ?? 0)) {
    sorted = [...(tags ?? [])].sort()
    byValue.set(value, sorted)
  }
  return sorted
}
