/**
 * Entry storage and indexes: by key (canonical multiaddr, ending in `/p2p/<id>` when the peer is
 * known), by peer id, and by network group (buckets.ts). Knows nothing of scores or limits.
 */
import { tryParseAddress } from '../address-group.ts'
import { GroupBuckets } from './buckets.ts'
import { type AddressSource, Entry } from './entry.ts'

export class EntryStore {
  private readonly byKey = new Map<string, Entry>()
  private readonly byPeer = new Map<string, Set<Entry>>()
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

  ofPeer(peerId: string): ReadonlySet<Entry> | undefined {
    return this.byPeer.get(peerId)
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

  insert(key: string, groupKey: string, peerId: string | undefined, source: AddressSource, now: number): Entry {
    const e = new Entry(key, source, this.buckets.open(groupKey), now, now)
    this.buckets.attach(e)
    this.byKey.set(key, e)
    if (peerId !== undefined) this.setPeer(e, peerId)
    return e
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
    if (e.peerId !== undefined) {
      const set = this.byPeer.get(e.peerId)
      set?.delete(e)
      if (set?.size === 0) this.byPeer.delete(e.peerId)
    }
  }

  private setPeer(e: Entry, peerId: string): void {
    e.peerId = peerId
    let set = this.byPeer.get(peerId)
    if (set === undefined) {
      set = new Set()
      this.byPeer.set(peerId, set)
    }
    set.add(e)
  }
}
