/**
 * Entry storage and indexes: by key (canonical multiaddr, ending in `/p2p/<id>` when the peer is
 * known), by peer id, and by network group (buckets.ts, with each entry's draw record: the book
 * calls touch() when it changes a field the record holds). Knows nothing of scores or limits.
 *
 * The entries of a binary file loaded by adoptLoaded() stay in its columns (loaded-slots.ts) until
 * one is asked for; the maps hold every other entry. Iteration order is the file's, then the maps'.
 */
import { type AddressScope, tryParseAddress } from '../address-group.ts'
import { GroupBuckets } from './buckets.ts'
import type { BookColumns } from './columns.ts'
import { refreshRecord, retagRecord } from './draw-records.ts'
import { type AddressSource, Entry, type Group, type WritableEntry } from './entry.ts'
import { LoadedSlots } from './loaded-slots.ts'

export class EntryStore {
  /** Entries not held by `loaded`. */
  private readonly byKey = new Map<string, Entry>()
  /** A peer's one entry, or its entries when it has several (of those in byKey): most peers have one, and a Set costs ~200 bytes. */
  private readonly byPeer = new Map<string, Entry | Entry[]>()
  readonly buckets = new GroupBuckets()
  private loaded: LoadedSlots | undefined

  get size(): number {
    return this.byKey.size + (this.loaded?.live ?? 0)
  }

  get(key: string): Entry | undefined {
    const e = this.byKey.get(key)
    if (e !== undefined || this.loaded === undefined) return e
    const i = this.loaded.find(key)
    return i < 0 ? undefined : this.loaded.entry(i)
  }

  has(key: string): boolean {
    return this.byKey.has(key) || (this.loaded !== undefined && this.loaded.find(key) >= 0)
  }

  /** Every entry (loaded ones are made Entry objects as they come). */
  *values(): Generator<Entry> {
    const loaded = this.loaded
    if (loaded !== undefined) for (const i of loaded.slots()) yield loaded.entry(i)
    yield* this.byKey.values()
  }

  /** Every entry as the writer reads it: a loaded entry not yet made is read from its columns. */
  *writable(): Generator<WritableEntry> {
    const loaded = this.loaded
    if (loaded !== undefined) {
      const cursor = loaded.columns.cursor()
      for (const i of loaded.slots()) yield loaded.isLazy(i) ? cursor.at(i) : loaded.entry(i)
    }
    yield* this.byKey.values()
  }

  /** The entry at `i` in a group (made from its loaded slot when it is one). */
  at(g: Group, i: number): Entry {
    const s = g.entries[i] as Entry | number
    return typeof s === 'number' ? (this.loaded as LoadedSlots).entry(s) : s
  }

  /** A group's entries, all made. */
  entriesOf(g: Group): Entry[] {
    return g.entries.map((_, i) => this.at(g, i))
  }

  /** The peer's entries (a fresh array), loaded ones first. */
  ofPeer(peerId: string): Entry[] {
    const loaded = this.loaded
    const out = loaded === undefined ? [] : loaded.peerSlots(peerId).map((i) => loaded.entry(i))
    const v = this.byPeer.get(peerId)
    if (v === undefined) return out
    if (Array.isArray(v)) out.push(...v)
    else out.push(v)
    return out
  }

  /**
   * The entry for an address as a caller reports it: its key, or a bare address plus `peerId`,
   * or any spelling that canonicalises to one of those.
   */
  lookup(multiaddr: string, peerId?: string): Entry | undefined {
    const direct = this.get(multiaddr) ?? (peerId === undefined ? undefined : this.get(`${multiaddr}/p2p/${peerId}`))
    if (direct !== undefined) return direct
    const parsed = tryParseAddress(multiaddr)
    if (parsed === undefined) return undefined
    const e = this.get(parsed.multiaddr)
    if (e !== undefined) return e
    if (parsed.peerId === undefined && peerId !== undefined) return this.get(`${parsed.multiaddr}/p2p/${peerId}`)
    return undefined
  }

  insert(key: string, groupKey: string, peerId: string | undefined, source: AddressSource, scope: AddressScope, now: number): Entry {
    const e = new Entry(key, source, this.buckets.open(groupKey), scope, now, now)
    this.buckets.attach(e)
    this.byKey.set(key, e)
    if (peerId !== undefined) this.setPeer(e, peerId)
    return e
  }

  /** The book changed an entry's times or counts: rewrite its draw record (draw-records.ts). */
  touch(e: Entry): void {
    if (e.gi >= 0 && this.buckets.recording) refreshRecord(e)
  }

  /**
   * Put a loaded entry (its group detached, see detachedGroup) into the indexes, unless its key is
   * already held or its group holds `maxPerGroup` entries; true when it went in. A load's entries share
   * one detached group per network group, which becomes the book's own: one group lookup per group.
   */
  adopt(e: Entry, maxPerGroup: number): boolean {
    if (this.byKey.has(e.multiaddr)) return false
    this.buckets.dropRecords()
    const group = this.buckets.resolve(e.group)
    if (group.entries.length >= maxPerGroup) return false
    e.group = group
    this.buckets.attach(e)
    this.byKey.set(e.multiaddr, e)
    if (e.peerId !== undefined) indexPeer(this.byPeer, e, e.peerId)
    return true
  }

  /**
   * Hold the entries of a binary file as columns, in an empty store: the slots whose scope `admits`
   * (by its code in the file), at most `maxPerGroup` per group, a repeated key skipped. Returns how many
   * went in. Draw records are left out: the first draw makes them (GroupBuckets.withRecords).
   */
  adoptLoaded(columns: BookColumns, admits: (scope: AddressScope) => boolean, maxPerGroup: number): number {
    if (this.size > 0 || this.loaded !== undefined) throw new Error('adoptLoaded: the store is not empty')
    this.buckets.dropRecords()
    const loaded = new LoadedSlots(
      columns,
      columns.groupKeys.map((key) => this.buckets.open(key)),
    )
    loaded.admitAll(admits, maxPerGroup)
    // groups of the file that kept no entry are dropped again
    for (const g of loaded.groups) if (g.entries.length === 0) this.buckets.close(g)
    this.loaded = loaded
    this.buckets.holdLoaded(loaded)
    return loaded.live
  }

  /** A bare entry learns its peer id: it moves to its `/p2p/<id>` key. */
  rekey(e: Entry, key: string, peerId: string): void {
    if (e.slot >= 0) (this.loaded as LoadedSlots).release(e)
    else this.byKey.delete(e.multiaddr)
    e.multiaddr = key
    this.byKey.set(key, e)
    this.setPeer(e, peerId)
  }

  /** Idempotent: an entry already removed is left alone. */
  remove(e: Entry): void {
    if (e.gi < 0) return
    this.buckets.detach(e)
    if (e.slot >= 0) {
      ;(this.loaded as LoadedSlots).release(e)
      return
    }
    this.byKey.delete(e.multiaddr)
    const byPeer = this.byPeer
    if (e.peerId !== undefined) {
      const v = byPeer.get(e.peerId)
      if (v === e) byPeer.delete(e.peerId)
      else if (Array.isArray(v)) {
        const i = v.indexOf(e)
        if (i >= 0) v.splice(i, 1)
        if (v.length === 1) byPeer.set(e.peerId, v[0] as Entry)
      }
    }
  }

  private setPeer(e: Entry, peerId: string): void {
    e.peerId = peerId
    if (e.gi >= 0 && this.buckets.recording) retagRecord(e)
    indexPeer(this.byPeer, e, peerId)
  }
}

function indexPeer(byPeer: Map<string, Entry | Entry[]>, e: Entry, peerId: string): void {
  const v = byPeer.get(peerId)
  if (v === undefined) byPeer.set(peerId, e)
  else if (Array.isArray(v)) {
    if (!v.includes(e)) v.push(e)
  } else if (v !== e) byPeer.set(peerId, [v, e])
}
