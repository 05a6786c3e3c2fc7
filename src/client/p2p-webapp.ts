import type { Static } from '@sinclair/typebox'
import type { shapes } from '../protocol/index.ts'
import { type ClientOptions, SwitchboardClient } from './client.ts'

/**
 * p2p-webapp's browser client API (its pkg/client `P2PWebAppClient` and `connect`), on Switchboard:
 * an app switches by changing one import. Same names, arguments, promises and callbacks:
 * `connect(peerKey?)` answers `[peerID, peerKey]`; `start(protocol, onData)` before `send`, which
 * resolves once the peer acknowledged; `subscribe(topic, onData, onPeerChange?)`; `listFiles` and
 * `getFile` resolve from their `peerFiles` / `gotFile` pushes; `storeFile` takes a string or bytes.
 *
 * One difference, on purpose: when the socket drops, p2p-webapp's client clears its listeners and
 * rejects everything; this one reconnects, comes back as the same peer (same key), re-subscribes its
 * topics and re-starts its protocols, so the app's callbacks keep firing (pass `{reconnect: false}`
 * for the old behaviour). Pending `send`s, `listFiles` and `getFile`s still reject on a drop.
 */

export type FileEntry = Static<typeof shapes.FileEntry>
export type FileContent = Static<typeof shapes.FileContent>
export interface StoreFileResponse {
  fileCid: string
  rootCid: string
}
export type ProtocolDataCallback = (peer: string, data: unknown) => unknown
export type TopicDataCallback = (peer: string, data: unknown) => unknown
export type PeerChangeCallback = (peer: string, joined: boolean) => unknown
export interface FileList {
  rootCID: string
  entries: { [path: string]: FileEntry }
}

interface Waiter<T> {
  promise: Promise<T>
  resolve: (v: T) => void
  reject: (e: Error) => void
}

function waiter<T>(): Waiter<T> {
  let resolve!: (v: T) => void
  let reject!: (e: Error) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** Base64 of bytes or of a string's UTF-8, without Node's Buffer. */
function toBase64(content: string | Uint8Array): string {
  const bytes = typeof content === 'string' ? new TextEncoder().encode(content) : content
  let binary = ''
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(binary)
}

/** A failed call rejects with a SwitchboardError (an Error whose `code` is the protocol's). */
export class P2PWebAppClient {
  #client: SwitchboardClient | undefined
  readonly #options: ClientOptions
  #peerID: string | null = null
  #peerKey: string | null = null
  #nextAck = 0
  readonly #protocolListeners = new Map<string, ProtocolDataCallback>()
  readonly #topicListeners = new Map<string, TopicDataCallback>()
  readonly #peerChangeListeners = new Map<string, PeerChangeCallback>()
  readonly #acks = new Map<number, Waiter<void>>()
  readonly #fileLists = new Map<string, Waiter<FileList>>()
  readonly #gets = new Map<string, Waiter<FileContent>>()
  /** Pushes are handled one at a time, in order, awaiting async callbacks (as p2p-webapp does). */
  #queue: Promise<void> = Promise.resolve()

  /** `options`: where and how to connect; default `/ws` on the page's host, with its cookie. */
  constructor(options: ClientOptions = {}) {
    this.#options = options
  }

  /** The typed client underneath, for calls p2p-webapp has no name for. */
  get client(): SwitchboardClient {
    if (!this.#client) throw new Error('WebSocket not connected')
    return this.#client
  }

  get peerID(): string | null {
    return this.#peerID
  }

  get peerKey(): string | null {
    return this.#peerKey
  }

  /** Open the socket and start this tab's peer (the same one again with `peerKey`). */
  async connect(peerKey?: string): Promise<[string, string]> {
    const client = new SwitchboardClient(this.#options)
    this.#client = client
    this.#listen(client)
    await client.ready()
    const r = await client.call('peer', peerKey ? { peerkey: peerKey } : {})
    this.#peerID = r.peerid
    this.#peerKey = r.peerkey
    return [r.peerid, r.peerkey]
  }

  close(): void {
    this.#client?.close()
    this.#client = undefined
  }

  async start(protocol: string, onData: ProtocolDataCallback): Promise<void> {
    if (this.#protocolListeners.has(protocol)) throw new Error(`Protocol '${protocol}' already started`)
    await this.client.call('start', { protocol })
    this.#protocolListeners.set(protocol, onData)
  }

  async stop(protocol: string): Promise<void> {
    if (!this.#protocolListeners.has(protocol)) throw new Error(`Protocol '${protocol}' not started`)
    await this.client.call('stop', { protocol })
    this.#protocolListeners.delete(protocol)
  }

  /** Send to a peer on a started protocol; resolves once it is delivered (its `ack`). */
  async send(peer: string, protocol: string, data: unknown): Promise<void> {
    if (!this.#protocolListeners.has(protocol)) {
      throw new Error(`Cannot send on protocol '${protocol}': protocol not started. Call start() first.`)
    }
    const ack = this.#nextAck++
    const w = waiter<void>()
    this.#acks.set(ack, w)
    try {
      await this.client.call('send', { peer, protocol, data, ack })
    } catch (err) {
      this.#acks.delete(ack)
      throw err
    }
    return w.promise
  }

  async subscribe(topic: string, onData: TopicDataCallback, onPeerChange?: PeerChangeCallback): Promise<void> {
    this.#topicListeners.set(topic, onData)
    if (onPeerChange) this.#peerChangeListeners.set(topic, onPeerChange)
    await this.client.call('subscribe', { topic })
  }

  async publish(topic: string, data: unknown): Promise<void> {
    await this.client.call('publish', { topic, data })
  }

  async unsubscribe(topic: string): Promise<void> {
    this.#topicListeners.delete(topic)
    this.#peerChangeListeners.delete(topic)
    await this.client.call('unsubscribe', { topic })
  }

  async listPeers(topic: string): Promise<string[]> {
    const r = await this.client.call('listpeers', { topic })
    return r.peers ?? []
  }

  /** Protect these peers' connections and keep dialling them (p2p-webapp's addPeers). */
  async addPeers(peerIds: string[]): Promise<void> {
    await this.client.call('addpeers', { peerIds })
  }

  async removePeers(peerIds: string[]): Promise<void> {
    await this.client.call('removepeers', { peerIds })
  }

  /** A peer's directory: `{rootCID, entries}` from the `peerFiles` push. */
  async listFiles(peerid: string): Promise<FileList> {
    const pending = this.#fileLists.get(peerid)
    if (pending) return pending.promise
    const w = waiter<FileList>()
    this.#fileLists.set(peerid, w)
    try {
      await this.client.call('listfiles', { peerid })
    } catch (err) {
      this.#fileLists.delete(peerid)
      w.reject(err as Error)
    }
    return w.promise
  }

  /** A file's content (base64) and MIME type, or a directory's entries, from the `gotFile` push. */
  async getFile(cid: string, fallbackPeerID?: string): Promise<FileContent> {
    const pending = this.#gets.get(cid)
    if (pending) return pending.promise
    const w = waiter<FileContent>()
    this.#gets.set(cid, w)
    try {
      await this.client.call('getfile', fallbackPeerID ? { cid, fallbackPeerID } : { cid })
    } catch (err) {
      this.#gets.delete(cid)
      w.reject(err as Error)
    }
    return w.promise
  }

  async storeFile(path: string, content: string | Uint8Array): Promise<StoreFileResponse> {
    const r = await this.client.call('storefile', { path, content: toBase64(content), directory: false })
    return { fileCid: r.fileCid, rootCid: r.rootCid }
  }

  async createDirectory(path: string): Promise<StoreFileResponse> {
    const r = await this.client.call('storefile', { path, directory: true })
    return { fileCid: r.fileCid, rootCid: r.rootCid }
  }

  async removeFile(path: string): Promise<void> {
    await this.client.call('removefile', { path })
  }

  // ---- internals ---------------------------------------------------------------------------

  /** Run a callback in the push queue; a callback's error is logged, as p2p-webapp does. */
  #enqueue(what: string, fn: () => unknown): void {
    this.#queue = this.#queue.then(async () => {
      try {
        await fn()
      } catch (err) {
        console.error(`Error in ${what} listener:`, err)
      }
    })
  }

  #listen(client: SwitchboardClient): void {
    client.on('peerData', (p) => {
      const fn = this.#protocolListeners.get(p.protocol)
      if (fn) this.#enqueue('peerData', () => fn(p.peer, p.data))
    })
    client.on('topicData', (p) => {
      const fn = this.#topicListeners.get(p.topic)
      if (fn) this.#enqueue('topicData', () => fn(p.peerid, p.data))
    })
    client.on('peerChange', (p) => {
      const fn = this.#peerChangeListeners.get(p.topic)
      if (fn) this.#enqueue('peerChange', () => fn(p.peerid, p.joined))
    })
    client.on('ack', (p) => {
      const w = this.#acks.get(p.ack)
      if (!w) return
      this.#acks.delete(p.ack)
      // p2p-webapp resolved on every ack; Switchboard also says when a message could not be delivered
      if (p.delivered) w.resolve()
      else w.reject(new Error(p.error ?? 'message not delivered'))
    })
    client.on('peerFiles', (p) => {
      const w = this.#fileLists.get(p.peerid)
      if (!w) return
      this.#fileLists.delete(p.peerid)
      w.resolve({ rootCID: p.cid, entries: p.entries })
    })
    client.on('gotFile', (p) => {
      const w = this.#gets.get(p.cid)
      if (!w) return
      this.#gets.delete(p.cid)
      if (p.success) w.resolve(p.content)
      else w.reject(new Error(p.content.error || 'Failed to retrieve file'))
    })
    client.on('state', ({ state }) => {
      if (state === 'open') return
      // what waited for a push of the lost connection will not get it
      const lost = new Error('Connection closed')
      for (const pending of [this.#acks, this.#fileLists, this.#gets] as unknown as Map<unknown, Waiter<never>>[]) {
        for (const w of pending.values()) w.reject(lost)
        pending.clear()
      }
    })
  }
}

/** Create a client and connect it in one call (p2p-webapp's `connect`). */
export async function connect(peerKey?: string, options?: ClientOptions): Promise<P2PWebAppClient> {
  const client = new P2PWebAppClient(options)
  await client.connect(peerKey)
  return client
}
