/**
 * Picking addresses to dial without letting one network group or one peer dominate: exact
 * weighted sampling for small books, rejection sampling (cost independent of size) for large ones.
 */
import { RECORD, STEP_MASK } from './draw-records.ts'
import type { Entry, Group } from './entry.ts'
import { chanceCeiling, chanceFrom, chanceOf } from './scoring.ts'

/**
 * Exact weighted sampling without replacement (exponential race: key = -ln(u) / weight, smallest
 * first), skipping picks that would break the per-group or one-per-peer limits. The weight is
 * chance divided by the size of the entry's group in the book, matching sampledPick's
 * uniform-group-then-entry draw.
 */
export function exactPick(entries: Entry[], n: number, perGroup: number, onePerPeer: boolean, now: number, random: () => number): Entry[] {
  const keyed = entries.map((e) => {
    const w = chanceOf(e, now) / (onePerPeer ? e.group.entries.length : 1)
    return { e, k: -Math.log(1 - random()) / w }
  })
  keyed.sort((a, b) => a.k - b.k)
  const out: Entry[] = []
  const perG = new Map<Group, number>()
  const peers = new Set<string>()
  for (const { e } of keyed) {
    if (out.length >= n) break
    const g = perG.get(e.group) ?? 0
    if (g >= perGroup) continue
    if (onePerPeer && e.peerId !== undefined) {
      if (peers.has(e.peerId)) continue
      peers.add(e.peerId)
    }
    perG.set(e.group, g + 1)
    out.push(e)
  }
  return out
}

/**
 * Rejection sampling for large books (expected cost independent of the book size): draw a
 * random group, then a random entry in it, and accept it with probability chance x factor,
 * where factor grows by 1.2 after each rejection so that even poor entries are eventually taken.
 * Gives up after 100 + 50n draws, returning what it has.
 *
 * A draw reads the entry's record in its group (draw-records.ts), one 24-byte record, and reads
 * the entry itself only when the record's ceiling of its chance does not reject it (mostly an entry
 * being taken), or when its peer tag equals a taken one's (then the peer ids are compared). The
 * result, and each call of `random`, are those of the same loop over the entries
 * (test/p2p/address-book.test.ts compares them).
 */
export function sampledPick(
  groups: readonly Group[],
  /** The entry at an index of a group (store.ts at: a loaded entry is made when first read). */
  at: (g: Group, i: number) => Entry,
  n: number,
  perGroup: number,
  now: number,
  random: () => number,
): Entry[] {
  const out: Entry[] = []
  // per taken entry (at most n: arrays scanned, no hashing): its group, its index there, its peer tag
  const takenIn: Group[] = []
  const takenAt: number[] = []
  const takenTags: number[] = []
  let factor = 1
  const maxDraws = 100 + 50 * n
  for (let draw = 0; draw < maxDraws && out.length < n; draw++) {
    const g = groups[Math.floor(random() * groups.length)]
    if (g === undefined) break
    const entries = g.entries
    const i = Math.floor(random() * entries.length)
    if (i >= entries.length) continue
    // taken already, and how many of its group are: one scan, no branch that only a rare draw takes
    // (optimized code compiled before such a branch ever ran is thrown away when it first does)
    let count = 0
    let taken = false
    for (let k = 0; k < takenIn.length; k++) {
      const sameGroup = takenIn[k] === g
      const sameEntry = takenAt[k] === i
      count += sameGroup ? 1 : 0
      taken ||= sameGroup && sameEntry
    }
    if (taken || count >= perGroup) continue
    const records = g.records
    const o = i * RECORD
    const stepAndTag = records[o + 2] as number
    const tag = stepAndTag >> 4
    if (tag !== 0 && takenTags.includes(tag) && samePeerTaken(out, at(g, i))) continue
    const quality = records[o + 1] as number
    const lastAttempt = records[o] as number
    const u = random()
    // the ceiling first: it rejects most draws that chanceFrom would, without reading the entry
    if (
      u >= chanceCeiling(quality, lastAttempt, stepAndTag & STEP_MASK, now) * factor ||
      u >= chanceFrom(quality, at(g, i).lastSeen, lastAttempt, stepAndTag & STEP_MASK, now) * factor
    ) {
      factor *= 1.2
      continue
    }
    factor = 1
    out.push(at(g, i))
    takenIn.push(g)
    takenAt.push(i)
    takenTags.push(tag)
  }
  return out
}

/** Whether a taken entry has e's peer id (e has one: its tag is not 0). */
function samePeerTaken(out: readonly Entry[], e: Entry): boolean {
  const peerId = e.peerId
  for (const t of out) if (t.peerId === peerId) return true
  return false
}
