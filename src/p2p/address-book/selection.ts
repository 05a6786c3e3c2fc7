/**
 * Picking addresses to dial without letting one network group or one peer dominate: exact
 * weighted sampling for small books, rejection sampling (cost independent of size) for large ones.
 */
import type { Entry, Group } from './entry.ts'
import { chanceOf } from './scoring.ts'

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
 */
export function sampledPick(groups: readonly Group[], n: number, perGroup: number, now: number, random: () => number): Entry[] {
  const out: Entry[] = []
  const chosen = new Set<Entry>()
  const perG = new Map<Group, number>()
  const peers = new Set<string>()
  let factor = 1
  const maxDraws = 100 + 50 * n
  for (let draw = 0; draw < maxDraws && out.length < n; draw++) {
    const g = groups[Math.floor(random() * groups.length)]
    if (g === undefined) break
    const e = g.entries[Math.floor(random() * g.entries.length)]
    if (e === undefined || chosen.has(e)) continue
    const count = perG.get(g) ?? 0
    if (count >= perGroup) continue
    if (e.peerId !== undefined && peers.has(e.peerId)) continue
    if (random() >= chanceOf(e, now) * factor) {
      factor *= 1.2
      continue
    }
    factor = 1
    chosen.add(e)
    perG.set(g, count + 1)
    if (e.peerId !== undefined) peers.add(e.peerId)
    out.push(e)
  }
  return out
}
