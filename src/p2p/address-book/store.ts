/**
 * Entry storage and indexes: by key (canonical multiaddr, ending in `/p2p/<id>` when the peer is
 * known), by peer id, and by network group (buckets.ts, with each entry's draw record: the book
 * calls touch() when it changes a field the record holds). Knows nothing of scores or limits.
 */
import { type AddressScope, tryParseAddress } from '../address-group.ts'
import { GroupBuckets } from './buckets.ts'
import { refreshRecord, retagRecord } from './draw-records.ts'
import { type AddressSource, Entry } from './entry.ts'

export class EntryStore {
  private readonly byKey = new Map<string, Entry>()
  /**
   * A peer's one entry, or its entries when it has several: most peers have one, and a Set costs ~200 bytes.
   * Undefined after a load until first asked for (see peers()): adopt leaves it out, which spares a
   * 100k-entry load a hash of every peer id and a Map insertion each (about a sixth of its CPU).
   */
  private byPeer: Map<string, Entry | Entry[]> | undefined = new Map()
  readonly buckets = new GroupBuckets()

  get size(): number {
    return this.byKey.size
  }

  get(key: string): Entry | undefined {
    return this.byKey.get(key)
  }

  has(key: string): boolean {
    return this.byKey.has(key)
  }

  values(): IterableIterator<Entry> {
    return this.byKey.values()
  }

  /** The peer's entries (a fresh array). */
  ofPeer(peerId: string): Entry[] {
    const v = this.peers().get(peerId)
    return v === undefined ? [] : Array.isArray(v) ? [...v] : [v]
  }

  /**
   * The entry for an address as a caller reports it: its key, or a bare address plus `peerId`,
   * or any spelling that canonicalises to one of those.
   */
  lookup(multiaddr: string, peerId?: string): Entry | undefined {
    const direct = this.byKey.get(multiaddr) ?? (peerId === undefined ? undefined : this.byKey.get(`${multiaddr}/p2p/${peerId}`))
    if (direct !== undefined) return direct
    const parsed = tryParseAddress(multiaddr)
    if (parsed === undefined) return undefined
    const e = this.byKey.get(parsed.multiaddr)
    if (e !== undefined) return e
    if (parsed.peerId === undefined && peerId !== undefined) return this.byKey.get(`${parsed.multiaddr}/p2p/${peerId}`)
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
   * Draw records are left out like the by-peer index: the first draw makes them (GroupBuckets.withRecords).
   */
  adopt(e: Entry, maxPerGroup: number): boolean {
    if (this.byKey.has(e.multiaddr)) return false
    this.buckets.dropRecords()
    const group = this.buckets.resolve(e.group)
    if (group.entries.length >= maxPerGroup) return false
    e.group = group
    this.buckets.attach(e)
    this.byKey.set(e.multiaddr, e)
    // the by-peer index is rebuilt from byKey when next needed, in this same order
    this.byPeer = undefined
    return true
  }

  /** A bare entry learns its peer id: it moves to its `/p2p/<id>` key. */
  rekey(e: Entry, key: string, peerId: string): void {
    this.byKey.delete(e.multiaddr)
    e.multiaddr = key
    this.byKey.set(key, e)
    this.setPeer(e, peerId)
  }

  /** Idempotent: an entry already removed is left alone. */
  remove(e: Entry): void {
    if (e.gi < 0) return
    this.byKey.delete(e.multiaddr)
    this.buckets.detach(e)
    const byPeer = this.byPeer
    if (e.peerId !== undefined && byPeer !== undefined) {
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
    if (this.byPeer !== undefined) indexPeer(this.byPeer, e, peerId)
  }

  /** The by-peer index, built from byKey (in its order) when a load left it out. */
  private peers(): Map<string, Entry | Entry[]> {
    let byPeer = this.byPeer
    if (byPeer === undefined) {
      byPeer = new Map()
      for (const e of this.byKey.values()) if (e.peerId !== undefined) indexPeer(byPeer, e, e.peerId)
      this.byPeer = byPeer
    }
    return byPeer
  }
}

function indexPeer(byPeer: Map<string, Entry | Entry[]>, e: Entry, peerId: string): void {
  const v = byPeer.get(peerId)
  if (v === undefined) byPeer.set(peerId, e)
  else if (Array.isArray(v)) {
    if (!v.includes(e)) v.push(e)
  } else if (v !== e) byPeer.set(peerId, [v, e])
}
