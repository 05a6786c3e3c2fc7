/**
 * Entries bucketed by network group (eclipse resistance): the size of each group, for the
 * per-group limit, and a dense group list so that selection can draw a group uniformly in O(1).
 * Each group keeps its entries' draw records (draw-records.ts) in the same order as the entries.
 */
import { moveLastRecord, pushRecord } from './draw-records.ts'
import type { Entry, Group } from './entry.ts'
import type { LoadedSlots } from './loaded-slots.ts'

export class GroupBuckets {
  private readonly byKey = new Map<string, Group>()
  /** Every non-empty group; removal swaps the last one into the hole. */
  readonly list: Group[] = []
  /**
   * Whether the groups hold their entries' draw records (draw-records.ts). A load turns them off
   * (dropRecords: 100k records are not made while the daemon starts) and the first draw makes them
   * (withRecords).
   */
  private recorded = true
  /** The loaded slots among the groups' members (store.ts adoptLoaded): their places are kept there. */
  private loaded: LoadedSlots | undefined

  holdLoaded(loaded: LoadedSlots): void {
    this.loaded = loaded
  }

  /** The group list with every group's draw records made. */
  withRecords(): readonly Group[] {
    if (!this.recorded) {
      const columns = this.loaded?.columns
      for (const g of this.list) {
        const records: number[] = []
        g.records = records
        for (const s of g.entries) {
          if (typeof s === 'number') (columns as NonNullable<typeof columns>).pushRecord(records, s)
          else pushRecord(s)
        }
      }
      this.recorded = true
    }
    return this.list
  }

  /** Stop keeping draw records until withRecords() is next called. */
  dropRecords(): void {
    if (!this.recorded) return
    this.recorded = false
    for (const g of this.list) g.records = []
  }

  /** Whether the groups' draw records are kept (then the store rewrites an entry's when it changes). */
  get recording(): boolean {
    return this.recorded
  }

  get count(): number {
    return this.list.length
  }

  get(key: string): Group | undefined {
    return this.byKey.get(key)
  }

  /** How many entries the group holds (0 when absent). */
  sizeOf(key: string): number {
    return this.byKey.get(key)?.entries.length ?? 0
  }

  /** The group for `key`, created empty when absent. */
  open(key: string): Group {
    let group = this.byKey.get(key)
    if (group === undefined) {
      group = { key, entries: [], records: [], li: this.list.length }
      this.byKey.set(key, group)
      this.list.push(group)
    }
    return group
  }

  /** Drop an empty group (one a load opened and left empty). */
  close(g: Group): void {
    if (g.entries.length > 0 || this.list[g.li] !== g) return
    this.byKey.delete(g.key)
    const lastG = this.list.pop() as Group
    if (lastG !== g) {
      this.list[g.li] = lastG
      lastG.li = g.li
    }
  }

  /**
   * The book's group for a detached one (see detachedGroup): the group held under its key, else the
   * detached group itself, registered. Either way the detached group then stands for the book's, so the
   * next entry sharing it costs no lookup. The group is listed by its first entry (attach).
   */
  resolve(detached: Group): Group {
    if (detached.li >= 0) return this.list[detached.li] === detached ? detached : this.open(detached.key)
    const held = this.byKey.get(detached.key)
    if (held !== undefined) return held
    this.byKey.set(detached.key, detached)
    detached.li = this.list.length
    this.list.push(detached)
    return detached
  }

  /** Put an entry into its group (e.group), with its draw record (from its fields as they are). */
  attach(e: Entry): void {
    e.gi = e.group.entries.length
    e.group.entries.push(e)
    if (this.recorded) pushRecord(e)
  }

  /** Take an entry out of its group, dropping the group when it empties. Idempotent. */
  detach(e: Entry): void {
    if (e.gi < 0) return
    const g = e.group
    const last = g.entries.pop() as Entry | number
    if (this.recorded) moveLastRecord(g.records, e.gi)
    if (last !== e) {
      g.entries[e.gi] = last
      if (typeof last === 'number') (this.loaded as LoadedSlots).at[last] = e.gi
      else last.gi = e.gi
    }
    e.gi = -1
    this.close(g)
  }
}
