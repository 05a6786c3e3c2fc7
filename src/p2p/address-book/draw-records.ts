/**
 * What selection reads of each entry, packed beside its group: `group.records` holds 3 doubles per
 * entry, in the order of `group.entries` (an unboxed double array). A draw of `sampledPick`
 * (selection.ts) on a large book then reads one record in its group's array instead of chasing the
 * entry object, its boxed times and its peer id string through a heap far larger than the CPU's caches
 * (bench/profiles/address-book-best8.txt). The groups (buckets.ts) add and move records with their
 * entries; the store rewrites an entry's record whenever the book changes one of these fields
 * (EntryStore.touch). The entry stays the truth.
 *
 * Record of entry i at 3i: lastAttempt (NaN when never), quality (qualityOf), and
 * min(consecutiveFailures, 8) + 16 x peer tag. Enough for the ceiling of an entry's chance
 * (scoring.ts chanceCeiling), which rejects most draws; lastSeen, which only the exact chance needs,
 * is read from the entry (mostly one being taken, whose snapshot reads it anyway). The peer tag is 0 for an entry without a peer id, else
 * a hash of the peer id's last characters in [1, 2^26]: different tags mean different peers; equal
 * tags are checked against the peer ids themselves.
 */
import type { Entry } from './entry.ts'
import { qualityOf } from './scoring.ts'

export const RECORD = 3
/** The failure step (scoring caps it at 8) in the low 4 bits of a record's last field. */
export const STEP_MASK = 15
const TAG_CHARS = 8
const SLASH = 47

/** A hash of `s` from `from` to its end, in [1, 2^26]. */
export function tagOfSuffix(s: string, from: number): number {
  let h = 0x811c9dc5
  for (let i = from; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return (h & 0x3ffffff) + 1
}

/**
 * The entry's peer tag (0: no peer id), from the peer id's last (up to) 8 characters. A loaded entry's
 * peer id is still its key's suffix: read from the key, not sliced out of it.
 */
export function peerTagOf(e: Entry): number {
  if (e.peerInKey) {
    const key = e.multiaddr
    const from = key.length - TAG_CHARS
    let clean = from >= 0
    for (let i = from; clean && i < key.length; i++) clean = key.charCodeAt(i) !== SLASH
    if (clean) return tagOfSuffix(key, from) // no '/' in them: the key's last 8 characters are the peer id's
  }
  const p = e.peerId
  return p === undefined ? 0 : tagOfSuffix(p, Math.max(0, p.length - TAG_CHARS))
}

/** Append the entry's record to its group's (the entry is being put at the end of group.entries). */
export function pushRecord(e: Entry): void {
  e.group.records.push(e.lastAttempt ?? Number.NaN, qualityOf(e), Math.min(e.consecutiveFailures, 8) + 16 * peerTagOf(e))
}

/** Rewrite the record of an entry in its group after its times or counts changed (its peer tag kept). */
export function refreshRecord(e: Entry): void {
  const r = e.group.records
  const o = e.gi * RECORD
  r[o] = e.lastAttempt ?? Number.NaN
  r[o + 1] = qualityOf(e)
  r[o + 2] = Math.min(e.consecutiveFailures, 8) + 16 * ((r[o + 2] as number) >> 4)
}

/** Rewrite the record's peer tag after the entry's peer id changed. */
export function retagRecord(e: Entry): void {
  const r = e.group.records
  const o = e.gi * RECORD + 2
  r[o] = ((r[o] as number) & STEP_MASK) + 16 * peerTagOf(e)
}

/** Move record `from` over record `to` and drop the last one (the group's swap-remove). */
export function moveLastRecord(records: number[], to: number): void {
  const from = records.length - RECORD
  if (to !== from) for (let k = 0; k < RECORD; k++) records[to * RECORD + k] = records[from + k] as number
  records.length = from
}
