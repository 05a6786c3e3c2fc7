import { readFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'

/** The parts of a V8 .cpuprofile the summaries read. */
export interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}
export interface Profile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

/** A .cpuprofile (or .cpuprofile.gz), its nodes by id and each node's parent, for walking a sample's stack. */
export function readProfile(file: string): { profile: Profile; byId: Map<number, ProfileNode>; parent: Map<number, number> } {
  const raw = readFileSync(file)
  const profile = JSON.parse((file.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8')) as Profile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  return { profile, byId, parent }
}
