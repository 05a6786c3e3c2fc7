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
  /** The client view as last built; undefined until someone asks for it or watches the actor. */
  snapshot: ActorSnapshot | undefined
  /** The kind's catalog entry, looked up once per actor (its id never changes). */
  kind: MachineKind
  /** The machine snapshot's own context and value the view was built from: unchanged, the view cannot have changed. */
  rawContext: unknown
  rawValue: unknown
}

interface MachineSnapshotLike {
  value: unknown
  status: string
  tags?: Set<string>
  context?: unknown
}

interface Listener {
  fn: (change: RegistryChange) => void
  prefix: string
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
 *
 * A view is built when someone can see it: on every snapshot of an actor a listener's prefix covers
 * (each change is pushed), and on demand (`get`, `list`) from the actor's current snapshot for the
 * others, whose snapshots after the first cost one prefix check each. Looking up and rebuilding the
 * view of 100k peer actors nobody watched on each of their events was a sixth of the cost of an event
 * (bench/peer-actors.ts). So `seq` grows by one for each change of the view a client can see: changes
 * that came and went while nobody watched the actor or asked for it count as one.
 */
export class ActorRegistry {
  readonly #entries = new Map<string, Entry>()
  readonly #listeners = new Set<Listener>()
  readonly #inspectors = new Set<(event: InspectionEvent) => void>()
  readonly #onStop = (systemId: string, ref: AnyActor): void => this.#stopped(systemId, ref)

  /** Pass as `inspect` to createActor. */
  readonly inspect = (event: InspectionEvent): void => {
    // inspection hands out the narrow ActorRefLike; the real actor (an `Actor`) carries its public systemId
    if (event.type === '@xstate.snapshot' && event.actorRef instanceof Actor) {
      const systemId = event.actorRef.systemId
      // an actor's first snapshot (its start) makes its entry; a later one matters only to a watcher
      if (systemId !== undefined && (event.event.type === 'xstate.init' || this.#isWatched(systemId)))
        this.#update(event.actorRef, systemId, event.snapshot)
    }
    if (this.#inspectors.size !== 0) for (const fn of this.#inspectors) fn(event)
  }

  #update(ref: AnyActor, systemId: string, snap: Snapshot<unknown> | undefined): void {
    if (!isMachineSnapshot(snap)) return
    let entry = this.#entries.get(systemId)
    if (entry !== undefined && entry.ref !== ref) {
      // a restarted actor under the same id: the old one is gone
      this.#entries.delete(systemId)
      if (this.#isWatched(systemId)) this.#emit({ type: 'stopped', systemId, kind: entry.kind.kind, seq: this.#view(entry).seq + 1 })
      entry = undefined
    }
    if (entry === undefined) {
      // an actor already reported stopped can still emit its last snapshot (e.g. when its parent stops it): do not resurrect it
      if (snap.status !== 'active') return
      const kind = kindOfSystemId(systemId)
      if (!kind) return
      entry = { ref, snapshot: undefined, kind, rawContext: undefined, rawValue: undefined }
      this.#entries.set(systemId, entry)
      ref.subscribe(new StopObserver(this.#onStop, systemId, ref))
      if (!this.#isWatched(systemId)) return
    }
    if (this.#refresh(entry, snap)) this.#emit({ type: 'snapshot', snapshot: entry.snapshot as ActorSnapshot })
  }

  /** Brings the entry's view up to `snap`; true when the view changed (its seq grew). */
  #refresh(entry: Entry, snap: MachineSnapshotLike): boolean {
    const prev = entry.snapshot
    // the hot path (an event that changed nothing a client sees, e.g. one a node or a shard only
    // routes): XState keeps the context object when no assign ran, and the value fixes the tags
    if (
      prev !== undefined &&
      snap.context === entry.rawContext &&
      snap.status === prev.status &&
      (snap.value === entry.rawValue || (typeof snap.value === 'object' && sameJson(snap.value, prev.value)))
    )
      return false
    const systemId = entry.ref.systemId as string
    const next: ActorSnapshot = {
      systemId,
      kind: entry.kind.kind,
      parent: prev ? prev.parent : parentSystemId(systemId),
      value: snap.value,
      status: snap.status,
      tags: sortedTags(entry.ref.logic, snap.value, snap.tags),
      context: snap.context === undefined ? null : entry.kind.project(snap.context as never),
      seq: prev ? prev.seq : 0,
    }
    entry.rawContext = snap.context
    entry.rawValue = snap.value
    if (prev && sameView(prev, next)) return false
    next.seq += 1
    entry.snapshot = next
    return true
  }

  /** The entry's current view: the actor's current snapshot, unchanged or turned into a view again. */
  #view(entry: Entry): ActorSnapshot {
    const snap = entry.ref.getSnapshot() as Snapshot<unknown> | undefined
    if (isMachineSnapshot(snap)) this.#refresh(entry, snap)
    return entry.snapshot as ActorSnapshot
  }

  /** Whether a listener's prefix covers the actor: the few listeners are checked per snapshot, no lookup. */
  #isWatched(systemId: string): boolean {
    for (const l of this.#listeners) if (systemId.startsWith(l.prefix)) return true
    return false
  }

  #stopped(systemId: string, ref: AnyActor): void {
    const entry = this.#entries.get(systemId)
    if (!entry || entry.ref !== ref) return
    // only a listener whose prefix covers the actor hears of it: its last snapshot, then the stop with the next seq
    if (this.#isWatched(systemId)) this.#update(ref, systemId, ref.getSnapshot())
    this.#entries.delete(systemId)
    if (!this.#isWatched(systemId)) return
    this.#emit({ type: 'stopped', systemId, kind: entry.kind.kind, seq: this.#view(entry).seq + 1 })
  }

  #emit(change: RegistryChange): void {
    const systemId = change.type === 'snapshot' ? change.snapshot.systemId : change.systemId
    for (const l of this.#listeners) if (systemId.startsWith(l.prefix)) l.fn(change)
  }

  list(prefix = ''): ActorSnapshot[] {
    const views: ActorSnapshot[] = []
    for (const [systemId, entry] of this.#entries) if (systemId.startsWith(prefix)) views.push(this.#view(entry))
    return views.sort((a, b) => a.systemId.localeCompare(b.systemId))
  }

  get(systemId: string): ActorSnapshot | undefined {
    const entry = this.#entries.get(systemId)
    return entry && this.#view(entry)
  }

  ref(systemId: string): AnyActorRef | undefined {
    return this.#entries.get(systemId)?.ref
  }

  /**
   * Every change of a view whose systemId starts with `prefix` (all of them by default), and each
   * stop. Views under no listener's prefix are built only when asked for: a listener should name
   * the prefix it filters on.
   */
  listen(fn: (change: RegistryChange) => void, prefix = ''): () => void {
    const listener: Listener = { fn, prefix }
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  onInspect(fn: (event: InspectionEvent) => void): () => void {
    this.#inspectors.add(fn)
    return () => this.#inspectors.delete(fn)
  }

  countByKindAndState(): Map<string, number> {
    const counts = new Map<string, number>()
    for (const entry of this.#entries.values()) {
      const value = (entry.ref.getSnapshot() as MachineSnapshotLike).value
      const key = `${entry.kind.kind}\u0000${typeof value === 'string' ? value : JSON.stringify(value)}`
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
