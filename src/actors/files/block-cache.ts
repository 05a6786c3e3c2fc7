/**
 * Which fetched DAGs the daemon keeps as a cache: the roots `getfile` and `GET /ipfs` fetched
 * (or served) that no directory references, each with when it was last used and about how many
 * bytes it holds, kept in the datastore so a restart keeps the cache. The block collector keeps the
 * most recently used ones up to `fileCacheMaxBytes` and evicts the rest (see file-store.ts).
 */
import { type Datastore, Key } from 'interface-datastore'
import { CID } from 'multiformats/cid'
import { blockKey } from '../../p2p/files/directory.ts'

const CACHE = '/switchboard/files/cache/'

export interface CacheEntry {
  root: CID
  /** Last use, ms since the epoch. */
  usedAt: number
  /** Bytes of the DAG's blocks held when it was recorded. */
  bytes: number
}

function parseEntry(value: Uint8Array): CacheEntry {
  const parsed = JSON.parse(new TextDecoder().decode(value)) as { root: string; usedAt: number; bytes: number }
  if (!Number.isFinite(parsed.usedAt) || !Number.isFinite(parsed.bytes)) throw new Error('cache entry without numbers')
  return { root: CID.parse(parsed.root), usedAt: parsed.usedAt, bytes: parsed.bytes }
}

export class CacheIndex {
  constructor(readonly datastore: Datastore) {}

  async record(entry: CacheEntry): Promise<void> {
    const value = JSON.stringify({ root: entry.root.toString(), usedAt: entry.usedAt, bytes: entry.bytes })
    await this.datastore.put(new Key(CACHE + blockKey(entry.root)), new TextEncoder().encode(value))
  }

  /** The entry for `root`, if it is cached (an entry that does not parse counts as none). */
  async get(root: CID): Promise<CacheEntry | undefined> {
    try {
      return parseEntry(await this.datastore.get(new Key(CACHE + blockKey(root))))
    } catch {
      return undefined
    }
  }

  /** Every entry, most recently used first; an entry that does not parse is dropped. */
  async list(): Promise<CacheEntry[]> {
    const out: CacheEntry[] = []
    const broken: Key[] = []
    for await (const { key, value } of this.datastore.query({ prefix: CACHE })) {
      try {
        out.push(parseEntry(value))
      } catch {
        broken.push(key)
      }
    }
    for (const key of broken) await this.datastore.delete(key)
    return out.sort((a, b) => b.usedAt - a.usedAt)
  }

  async evict(roots: CID[]): Promise<void> {
    if (roots.length === 0) return
    const batch = this.datastore.batch()
    for (const root of roots) batch.delete(new Key(CACHE + blockKey(root)))
    await batch.commit()
  }
}
