/**
 * Where a persistent node lists the replicas it keeps of known peers' directories:
 * `<storageDir>/replicas.json`, versioned, checksummed, written atomically, quarantined when corrupt.
 * The FileStore's counted root of each `replica:<peerId>` holder is what keeps the blocks; this file
 * says which replicas there are and when each was taken.
 */
import { join } from 'node:path'
import { type Static, Type } from '@sinclair/typebox'
import { CID } from 'multiformats/cid'
import { jsonFile } from '../../p2p/json-file.ts'

export const replicasFile = (storageDir: string) => join(storageDir, 'replicas.json')

export const ReplicaSchema = Type.Object({
  peerId: Type.String({ minLength: 1, maxLength: 256 }),
  root: Type.String({ minLength: 1, maxLength: 256 }),
  /** When the sync that took it finished (ms since the epoch). */
  at: Type.Number(),
  /** Blocks and bytes that sync fetched. */
  blocks: Type.Integer({ minimum: 0 }),
  bytes: Type.Integer({ minimum: 0 }),
})
export type SavedReplica = Static<typeof ReplicaSchema>

export interface Replica {
  root: CID
  at: number
  blocks: number
  bytes: number
}

export function savedReplicas(path: string) {
  const file = jsonFile({ path, format: 'switchboard.replicas', version: 1, schema: Type.Array(ReplicaSchema) })
  return {
    save: (replicas: Map<string, Replica>) =>
      file.save([...replicas].map(([peerId, r]) => ({ peerId, root: r.root.toString(), at: r.at, blocks: r.blocks, bytes: r.bytes }))),
    /** The saved replicas; none when the file is missing, or corrupt (moved aside, reported to `report`). */
    load: async (report: (msg: string) => void): Promise<Map<string, Replica>> =>
      (await file.loadOrQuarantine({
        what: 'the replicas file',
        instead: 'keeping no replicas',
        log: report,
        use: (saved) => new Map(saved.map((r) => [r.peerId, { root: CID.parse(r.root), at: r.at, blocks: r.blocks, bytes: r.bytes }])),
      })) ?? new Map<string, Replica>(),
  }
}
