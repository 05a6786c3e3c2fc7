import { Actor, type AnyActor, type AnyActorRef, type InspectionEvent, type Snapshot } from 'xstate'
import { parentSystemId } from '../../machines/actor-ids.ts'
import { kindOfSystemId } from '../../machines/catalog.ts'

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
  /** The machine snapshot's own context and value as last seen: unchanged, the view cannot have changed. */
  rawContext: unknown
  rawValue: unknown
  /** JSON of snapshot.value and snapshot.context, kept so a comparison stringifies only the new view. */
  valueJson: string
  contextJson: string
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

/**
 * Derives the client view of every long-lived actor from XState's inspection stream: the one place
 * that turns snapshots into projections with a per-actor `seq`. It holds no state of its own beyond that.
 */
export class ActorRegistry {
  readonly #entries = new Map<string, Entry>()
  readonly #listeners = new Set<(change: RegistryChange) => void>()
  readonly #inspectors = new Set<(event: InspectionEvent) => void>()

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
      (snap.value === entry.rawValue || (typeof snap.value === 'object' && JSON.stringify(snap.value) === entry.valueJson))
    )
      return
    const kind = kindOfSystemId(systemId)
    if (!kind) return
    if (entry && entry.ref !== ref) {
      // a restarted actor under the same id: the old one is gone
      this.#entries.delete(systemId)
      this.#emit({ type: 'stopped', systemId, kind: entry.snapshot.kind, seq: entry.snapshot.seq + 1 })
      entry = undefined
    }
    const next: ActorSnapshot = {
      systemId,
      kind: kind.kind,
      parent: parentSystemId(systemId),
      value: snap.value,
      status: snap.status,
      tags: [...(snap.tags ?? [])].sort(),
      context: snap.context === undefined ? null : kind.project(snap.context as never),
      seq: entry ? entry.snapshot.seq : 0,
    }
    const valueJson = JSON.stringify(next.value)
    const contextJson = JSON.stringify(next.context)
    if (entry && sameView(entry, next, valueJson, contextJson)) {
      entry.rawContext = snap.context
      entry.rawValue = snap.value
      return
    }
    // an actor already reported stopped can still emit its last snapshot (e.g. when its parent stops it): do not resurrect it
    if (!entry && snap.status !== 'active') return
    next.seq += 1
    if (!entry) {
      this.#entries.set(systemId, { ref, snapshot: next, rawContext: snap.context, rawValue: snap.value, valueJson, contextJson })
      ref.subscribe({ complete: () => this.#stopped(systemId, ref), error: () => this.#stopped(systemId, ref) })
    } else {
      entry.snapshot = next
      entry.rawContext = snap.context
      entry.rawValue = snap.value
      entry.valueJson = valueJson
      entry.contextJson = contextJson
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

function sameView(entry: Entry, b: ActorSnapshot, valueJson: string, contextJson: string): boolean {
  const a = entry.snapshot
  return (
    a.status === b.status &&
    a.parent === b.parent &&
    entry.valueJson === valueJson &&
    a.tags.join() === b.tags.join() &&
    entry.contextJson === contextJson
  )
}
