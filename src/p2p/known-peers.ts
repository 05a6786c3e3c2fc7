import { type Static, Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { CorruptFileError, loadVersioned, quarantine, saveVersioned } from './atomic-file.ts'
import { CoalescedWrite } from './coalesced-write.ts'

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
 * is given, so they survive restarts and reconnect by themselves. A change resolves only once the
 * file holding it is on disk (writes coalesced: one in flight, one pending).
 */
export class KnownPeers {
  readonly #peers = new Map<string, KnownPeer>()
  readonly #writes: CoalescedWrite | undefined

  private constructor(readonly path: string | undefined) {
    this.#writes = path === undefined ? undefined : new CoalescedWrite(() => saveVersioned(path, FORMAT, VERSION, this.list()), { what: `known peers (${path})` })
  }

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

  /** Add or replace a peer; resolves once it is on disk. */
  upsert(peer: KnownPeer): Promise<void> {
    this.#peers.set(peer.peerId, peer)
    return this.#writes?.changed() ?? Promise.resolve()
  }

  /** Forget a peer; resolves once that is on disk. */
  remove(peerId: string): Promise<void> {
    if (!this.#peers.delete(peerId)) return this.flush()
    return this.#writes?.changed() ?? Promise.resolve()
  }

  /** Resolves once every change so far is on disk; rejects with the error of the write that should have held it. */
  flush(): Promise<void> {
    return this.#writes?.durable() ?? Promise.resolve()
  }
}
