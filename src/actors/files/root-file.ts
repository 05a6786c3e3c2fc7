/**
 * Where a persistent node keeps its directory root between runs, so it resumes the directory it
 * had rather than only the last root its block counts include.
 */
import { join } from 'node:path'
import { Type } from '@sinclair/typebox'
import { CID } from 'multiformats/cid'
import { jsonFile } from '../../p2p/json-file.ts'

/** Where a persistent node's directory root is saved. */
export const rootFile = (storageDir: string) => join(storageDir, 'files-root.json')

const RootSchema = Type.Object({ root: Type.String() })

/** The saved root of the node whose root file is `path` (see rootFile). */
export function savedRoot(path: string) {
  const file = jsonFile({ path, format: 'switchboard.files-root', version: 1, schema: RootSchema })
  return {
    save: (root: CID) => file.save({ root: root.toString() }),
    /** save's first half: written and fsynced beside the file, replacing it once committed. */
    stage: (root: CID) => file.stage({ root: root.toString() }),
    /** The saved root; undefined when there is none, or the file was corrupt (moved aside, reported to `report`). */
    load: (report: (msg: string) => void) =>
      file.loadOrQuarantine({
        what: 'the directory root file',
        instead: 'using the last counted root',
        log: report,
        use: (saved) => CID.parse(saved.root),
      }),
  }
}
