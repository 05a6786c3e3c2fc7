import { type Static, Type } from '@sinclair/typebox'
import { CoalescedWrite } from './coalesced-write.ts'
import { jsonFile } from './json-file.ts'

export const KnownPeerSchema = Type.Object({
  peerId: Type.String({ minLength: 1, maxLength: 256 }),
  name: Type.String({ maxLength: 256 }),
  ticket: Type.Optional(Type.String({ maxLength: 8192 })),
  addedAt: Type.Number(),
  lastSyncAt: Type.Union([Type.Number(), Type.Null()]),
  autoConnect: Type.Boolean(),
})
export type KnownPeer = Static<typeof KnownPeerSchema>

/** The file holds the list itself as its data. */
const knownPeersFile = (path: string) =>
  jsonFile({ path, format: 'switchboard.known-peers', version: 1, schema: Type.Array(KnownPeerSchema) })

/**
 * The peers a local node remembers (paired, or kept by a client): persisted atomically when a path
 * is given, so they survive restarts and reconnect by themselves. A change resolves only once the
 * file holding it is on disk (writes coalesced: one in flight, one pending).
 */
export class KnownPeers {
  readonly #peers = new Map<string, KnownPeer>()
  readonly #writes: CoalescedWrite | undefined

  private constructor(readonly path: string | undefined) {
    const file = path === undefined ? undefined : knownPeersFile(path)
    this.#writes = file === undefined ? undefined : new CoalescedWrite(() => file.save(this.list()), { what: `known peers (${path})` })
  }

  static inMemory(): KnownPeers {
    return new KnownPeers(undefined)
  }

  /** Load from `path`; a corrupt file is logged, kept aside, and the list starts empty. */
  static async load(path: string, log: (msg: string) => void = console.warn): Promise<KnownPeers> {
    const store = new KnownPeers(path)
    const data = await knownPeersFile(path).loadOrQuarantine({ what: 'known peers list', instead: 'starting with none', log })
    if (data === undefined) return store
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
