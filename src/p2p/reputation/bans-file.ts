/**
 * The ban list on disk: a json-file envelope (`switchboard.bans`, version 1) holding active bans
 * and ban counts. Records are checked one by one so that a bad one costs only itself.
 */
import { Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { jsonFile } from '../json-file.ts'
import type { Ban } from './bans.ts'
import type { BanCount } from './escalation.ts'

export const BANS_FORMAT = 'switchboard.bans'
export const BANS_VERSION = 1

const Time = Type.Number({ minimum: 0 })

/** One saved ban; a record of another shape is skipped on load, not the whole list. */
const BanRecordSchema = Type.Object({
  peerId: Type.String({ minLength: 1 }),
  until: Time,
  // older or hand-edited files may lack a reason or hold another type: the ban still stands
  reason: Type.Optional(Type.Unknown()),
  createdAt: Time,
})
const CountRecordSchema = Type.Object({ peerId: Type.String(), count: Type.Integer({ minimum: 1 }), lastBanAt: Time })

/** The file's data: records stay unchecked here (see readBansFile). */
const BansFileSchema = Type.Object({
  savedAt: Type.Optional(Type.Number()),
  bans: Type.Array(Type.Unknown()),
  counts: Type.Array(Type.Unknown()),
})

export const bansFile = (path: string) => jsonFile({ path, format: BANS_FORMAT, version: BANS_VERSION, schema: BansFileSchema })

export interface BansFileContent {
  bans: Ban[]
  counts: Array<{ peerId: string } & BanCount>
  /** Malformed records left out. */
  skipped: number
}

/**
 * The usable content of a loaded file as of `now`: bans that expired while we were down and counts
 * past the forgetting window are left out (not counted as skipped), a future lastBanAt is clamped.
 */
export function readBansFile(data: { bans: unknown[]; counts: unknown[] }, now: number, forgetAfterMs: number): BansFileContent {
  const out: BansFileContent = { bans: [], counts: [], skipped: 0 }
  for (const c of data.counts) {
    if (!Value.Check(CountRecordSchema, c)) {
      out.skipped++
      continue
    }
    if (now - c.lastBanAt > forgetAfterMs) continue
    out.counts.push({ peerId: c.peerId, count: c.count, lastBanAt: Math.min(c.lastBanAt, now) })
  }
  for (const b of data.bans) {
    if (!Value.Check(BanRecordSchema, b)) {
      out.skipped++
      continue
    }
    if (b.until <= now) continue
    out.bans.push({ peerId: b.peerId, until: b.until, reason: typeof b.reason === 'string' ? b.reason : '', createdAt: b.createdAt })
  }
  return out
}
