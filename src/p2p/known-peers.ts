import { type Static, Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { CorruptFileError, loadVersioned, quarantine, saveVersioned } from './atomic-file.ts'

export const KnownPeerSchema = Type.Object({
  peerId: Type.String({ minLength: 1, maxLength: 256 }),
  name: Type.String({ maxLength: 256 }),
  ticket: Type.Optional(Type.String({ maxLength: 8192 })),
  addedAt: Type.Number(),
  lastSyncAt: Type.Union([Type.Number(), Type.Null()]),
  autoConnect: Type.Boolean(),
})
export type KnownPeer = Static<typeof KnownPeerSchema>

const FORMAT = 'switchboard.known-peers'
const VERSION = 1

/**
 * The peers a local node remembers (paired, or kept by a client): persisted atomically when a path
 * is given, so they survive restarts and reconnect by themselves.
 */
export class KnownPeers {
  readonly #peers = new Map<string, KnownPeer>()
  #saving: Promise<void> = Promise.resolve()

  private constructor(readonly path: string | undefined) {}

  static inMemory(): KnownPeers {
    return new KnownPeers(undefined)
  }

  /** Load from `path`; a corrupt file is logged, kept aside, and the list starts empty. */
  static async load(path: string, log: (msg: string) => void = console.warn): Promise<KnownPeers> {
    const store = new KnownPeers(path)
    let data: unknown
    try {
      data = await loadVersioned<unknown>(path, FORMAT, VERSION)
    } catch (err) {
      if (!(err instanceof CorruptFileError)) throw err
      const aside = await quarantine(path)
      log(`known peers: ${err.message}; moved to ${aside}, starting with none`)
      return store
    }
    if (data === undefined) return store
    if (!Value.Check(Type.Array(KnownPeerSchema), data)) {
      const aside = await quarantine(path)
      log(`known peers: ${path} has entries of the wrong shape; moved to ${aside}, starting with none`)
      return store
    }
    for (const p of data) store.#peers.set(p.peerId, p)
    return store
  }

  list(): KnownPeer[] {
    return [...this.#peers.values()]
  }

  get(peerId: string): KnownPeer | undefined {
    return this.#peers.get(peerId)
  }

  has(peerId: string): boolean {
    return this.#peers.has(peerId)
  }

  upsert(peer: KnownPeer): Promise<void> {
    this.#peers.set(peer.peerId, peer)
    return this.#save()
  }

  remove(peerId: string): Promise<void> {
    if (!this.#peers.delete(peerId)) return this.#saving
    return this.#save()
  }

  /** Writes are chained so the file always ends with the latest list. */
  #save(): Promise<void> {
    const path = this.path
    if (path === undefined) return Promise.resolve()
    this.#saving = this.#saving.catch(() => {}).then(() => saveVersioned(path, FORMAT, VERSION, this.list()))
    return this.#saving
  }

  flush(): Promise<void> {
    return this.#saving
  }
}
