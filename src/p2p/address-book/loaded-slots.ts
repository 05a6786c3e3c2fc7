/**
 * The entries a book loaded from a binary file and holds without an object each (store.ts): which
 * slots of the file's columns (columns.ts) are in the book, where each sits in its group, the Entry
 * made of a slot once someone asks for it, and hash indexes by key and by peer id over the columns.
 * So a load of 100k entries allocates typed arrays, not 100k objects, strings and Map entries; an
 * entry costs its object only when it is read or changed.
 */
import type { AddressScope } from '../address-group.ts'
import { type BookColumns, idKeyOf, keyHash, peerHash, peerIdBytes, STORED_SCOPES } from './columns.ts'
import type { Entry, Group } from './entry.ts'

/** Not in the book: refused at load, removed, or moved to another key (rekeyed, then held by the store's map). */
const GONE = 0
/** In the book, not yet made an Entry. */
const LAZY = 1
/** In the book as the Entry in `made`. */
const MADE = 2

export class LoadedSlots {
  private readonly state: Uint8Array
  /** A lazy slot's index in its group's entries (buckets.ts keeps it when it moves). */
  readonly at: Uint32Array
  private readonly made = new Map<number, Entry>()
  /** Open addressing by key hash, linear probing: slot + 1, 0 when empty (a new table is all empty). */
  private readonly keyTable: Uint32Array
  /** Slots by peer id hash, chained in slot order; built when first asked (peerSlots). */
  private peerIndex: { heads: Int32Array; next: Int32Array; hashes: Uint32Array } | undefined
  /** Slots in the book (lazy or made). */
  live = 0

  constructor(
    readonly columns: BookColumns,
    /** The book's group of each network group of the file (by its index in the file's group table). */
    readonly groups: readonly Group[],
  ) {
    const n = columns.count
    this.state = new Uint8Array(n) // all GONE
    this.at = new Uint32Array(n)
    let size = 16
    while (size < 2 * n) size *= 2
    this.keyTable = new Uint32Array(size)
  }

  get count(): number {
    return this.columns.count
  }

  groupOf(i: number): Group {
    return this.groups[this.columns.group[i] as number] as Group
  }

  /**
   * Put every slot in the book whose scope `admits`, in file order, at most `maxPerGroup` to a group
   * (the first ones), a key already in skipped. Each group's entries are made at their size at once.
   */
  admitAll(admits: (scope: AddressScope) => boolean, maxPerGroup: number): void {
    const c = this.columns
    const allowed = STORED_SCOPES.map(admits)
    const ok = (i: number) => allowed[(c.sourceScope[i] as number) >> 4] === true
    const sizes = new Uint32Array(this.groups.length)
    for (let i = 0; i < c.count; i++) if (ok(i)) sizes[c.group[i] as number] = (sizes[c.group[i] as number] as number) + 1
    this.groups.forEach((g, k) => {
      g.entries = new Array(Math.min(sizes[k] as number, maxPerGroup))
      sizes[k] = 0
    })
    for (let i = 0; i < c.count; i++) {
      const k = c.group[i] as number
      if (!ok(i) || (sizes[k] as number) >= maxPerGroup || !this.admit(i, sizes[k] as number)) continue
      sizes[k] = (sizes[k] as number) + 1
    }
    // fewer than counted when keys repeat
    this.groups.forEach((g, k) => {
      g.entries.length = sizes[k] as number
    })
  }

  /** Put slot i in the book at `at` in its group, unless a slot already in holds its key; true when it went in. */
  private admit(i: number, at: number): boolean {
    const hashes = this.columns.keyHashes
    const h = hashes[i] as number
    const table = this.keyTable
    const mask = table.length - 1
    let p = h & mask
    for (let s = table[p] as number; s !== 0; s = table[p] as number) {
      if (hashes[s - 1] === h && this.columns.sameKey(s - 1, i)) return false
      p = (p + 1) & mask
    }
    table[p] = i + 1
    this.at[i] = at
    ;(this.groups[this.columns.group[i] as number] as Group).entries[at] = i
    this.state[i] = LAZY
    this.live++
    return true
  }

  /** The slot in the book under this key, or -1. */
  find(key: string): number {
    const idKey = idKeyOf(key)
    const h = keyHash(key, idKey)
    const table = this.keyTable
    const mask = table.length - 1
    const hashes = this.columns.keyHashes
    for (let p = h & mask, s = table[p] as number; s !== 0; p = (p + 1) & mask, s = table[p] as number) {
      if (hashes[s - 1] === h && this.columns.keyEquals(s - 1, key, idKey)) return this.state[s - 1] === GONE ? -1 : s - 1
    }
    return -1
  }

  /** The Entry of a slot in the book, made (and put in its group's place) when first asked. */
  entry(i: number): Entry {
    const made = this.made.get(i)
    if (made !== undefined) return made
    const group = this.groupOf(i)
    const e = this.columns.entryOf(i, group)
    e.gi = this.at[i] as number
    e.slot = i
    group.entries[e.gi] = e
    this.made.set(i, e)
    this.state[i] = MADE
    return e
  }

  /** The entry no longer holds its slot (removed, or rekeyed: the store then holds it by its new key). */
  release(e: Entry): void {
    this.made.delete(e.slot)
    this.state[e.slot] = GONE
    e.slot = -1
    this.live--
  }

  /** The slots in the book, in file order. */
  *slots(): Generator<number> {
    const state = this.state
    for (let i = 0; i < state.length; i++) if (state[i] !== GONE) yield i
  }

  /** Whether slot i is in the book and still no Entry (the writer then reads its columns). */
  isLazy(i: number): boolean {
    return this.state[i] === LAZY
  }

  /** The slots in the book with this peer id, in file order. */
  peerSlots(peerId: string): number[] {
    this.peerIndex ??= this.indexPeers()
    const index = this.peerIndex
    const id = peerIdBytes(peerId)
    const h = peerHash(peerId, id)
    const out: number[] = []
    for (let s = index.heads[h & (index.heads.length - 1)] as number; s !== -1; s = index.next[s] as number) {
      if (index.hashes[s] === h && this.state[s] !== GONE && this.columns.peerEquals(s, peerId, id)) out.push(s)
    }
    return out
  }

  /** Every admitted slot with a peer id, chained by hash; built backwards so that each chain is in slot order. */
  private indexPeers(): { heads: Int32Array; next: Int32Array; hashes: Uint32Array } {
    const c = this.columns
    const n = c.count
    let size = 16
    while (size < n) size *= 2
    const heads = new Int32Array(size).fill(-1)
    const next = new Int32Array(n)
    const hashes = new Uint32Array(n)
    const mask = size - 1
    for (let i = n - 1; i >= 0; i--) {
      if (this.state[i] === GONE || !c.hasPeer(i)) continue
      const h = c.peerHash(i)
      hashes[i] = h
      next[i] = heads[h & mask] as number
      heads[h & mask] = i
    }
    return { heads, next, hashes }
  }
}
