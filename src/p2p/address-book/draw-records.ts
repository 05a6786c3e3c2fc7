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
 * a hash of the peer id's last digits in [1, 2^26] (tagOfPeerText): different tags mean different peers; equal
 * tags are checked against the peer ids themselves.
 */
import { base58Digit } from './base58.ts'
import type { Entry } from './entry.ts'
import { qualityOf } from './scoring.ts'

export const RECORD = 3
/** The failure step (scoring caps it at 8) in the low 4 bits of a record's last field. */
export const STEP_MASK = 15
const TAG_DIGITS = 3
const TAG_CHARS = 8

/** A number in [0, 58^3) spread over [1, 2^26]. */
export function tagOfValue(v: number): number {
  let h = Math.imul(v ^ (v >>> 16), 0x45d9f3b)
  h ^= h >>> 16
  return (h & 0x3ffffff) + 1
}

/**
 * The peer tag of the peer id s[from .. to): the value of its last (up to) 3 base58 digits, which a
 * peer id kept as bytes gives without its text (columns.ts, base58Tail); an id whose last digits are
 * not all base58 hashes its last 8 characters instead.
 */
export function tagOfPeerText(s: string, from = 0, to = s.length): number {
  let v = 0
  for (let i = Math.max(from, to - TAG_DIGITS); i < to; i++) {
    const d = base58Digit(s.charCodeAt(i))
    if (d < 0) {
      let h = 0x811c9dc5
      for (let k = Math.max(from, to - TAG_CHARS); k < to; k++) h = Math.imul(h ^ s.charCodeAt(k), 0x01000193)
      return (h & 0x3ffffff) + 1
    }
    v = v * 58 + d
  }
  return tagOfValue(v)
}

/**
 * The entry's peer tag (0: no peer id). A loaded entry's peer id is still its key's suffix: when the
 * key's last 3 characters are base58 digits, they are the peer id's (a '/' precedes the id), read from
 * the key without slicing the id out of it.
 */
export function peerTagOf(e: Entry): number {
  if (e.peerInKey) {
    const key = e.multiaddr
    let digits = key.length >= TAG_DIGITS
    for (let i = key.length - TAG_DIGITS; digits && i < key.length; i++) digits = base58Digit(key.charCodeAt(i)) >= 0
    if (digits) return tagOfPeerText(key, key.length - TAG_DIGITS)
  }
  const p = e.peerId
  return p === undefined ? 0 : tagOfPeerText(p)
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
