import { type IncomingHttpHeaders, request } from 'node:http'
import * as dagPb from '@ipld/dag-pb'
import { peerIdFromString } from '@libp2p/peer-id'
import toBuffer from 'it-to-buffer'
import { CID } from 'multiformats/cid'
import { blockKey, walkBlocks } from '../../src/p2p/files/directory.ts'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import type { TestDaemon } from '../support/daemon.ts'

export interface Entry {
  type: 'file' | 'directory'
  cid: string
  mimeType?: string
}
export interface PeerFiles {
  peerid: string
  cid: string
  entries: Record<string, Entry>
}
export interface GotFile {
  cid: string
  success: boolean
  content: { type: 'file'; mimeType: string; content: string } | { type: 'directory'; entries: Record<string, string> } | { error: string }
}
export interface Stored {
  fileCid: string
  rootCid: string
}

/** For tests whose point is a file carried whole in one WebSocket frame (storefile/getfile of MiBs). */
export const BIG_FRAMES = { maxFrameBytes: 16 * 1024 * 1024 }

export const b64 = (data: string | Uint8Array) => Buffer.from(data).toString('base64')

/** Deterministic bytes that do not compress or dedupe: xorshift32 seeded by `seed`. */
export function noise(length: number, seed: number): Uint8Array<ArrayBuffer> {
  const buffer = new ArrayBuffer(Math.ceil(length / 4) * 4)
  const words = new Uint32Array(buffer)
  let x = seed >>> 0 || 1
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    words[i] = x >>> 0
  }
  return new Uint8Array(buffer, 0, length)
}

export const store = (c: SwitchboardClient, path: string, content: string | Uint8Array) =>
  c.call<Stored>('storefile', { path, content: b64(content), directory: false })

/** `listfiles` and its `peerFiles` push (the listener is in place before the call). */
export async function listFiles(c: SwitchboardClient, peerid: string): Promise<PeerFiles> {
  const push = c.waitFor<PeerFiles>('peerFiles', (p) => p.peerid === peerid, 60_000)
  await c.call('listfiles', { peerid })
  return push
}

/** `getfile` and its `gotFile` push. */
export async function getFile(c: SwitchboardClient, cid: string, fallbackPeerID?: string, timeoutMs = 60_000): Promise<GotFile> {
  const push = c.waitFor<GotFile>('gotFile', (p) => p.cid === cid, timeoutMs)
  await c.call('getfile', fallbackPeerID === undefined ? { cid } : { cid, fallbackPeerID })
  return push
}

/** The raw shared blockstore of a daemon (peer-a's). */
export const blocksOf = (d: TestDaemon) => d.core.nodes.handle('peer-a').blockstore

export async function hasBlock(d: TestDaemon, cid: string | CID): Promise<boolean> {
  return blocksOf(d).has(typeof cid === 'string' ? CID.parse(cid) : cid)
}

/** Every block of the DAG under `cid`, read from the daemon's local store. */
export async function dagBlocks(d: TestDaemon, cid: string): Promise<CID[]> {
  const out: CID[] = []
  await walkBlocks(CID.parse(cid), (c) => toBuffer(blocksOf(d).get(c)), out)
  return out
}

export const authHeaders = (d: TestDaemon, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${d.token}`, ...extra })

/** A daemon's peer-a loopback TCP address, with its peer id. */
export function addrOf(d: TestDaemon): string {
  const addr = d.core.nodes.info('peer-a').addrs.find((a) => a.includes('/127.0.0.1/tcp/') && !a.includes('/ws'))
  if (!addr) throw new Error('no loopback address')
  return addr.includes('/p2p/') ? addr : `${addr}/p2p/${d.peerId}`
}

/** Whether `from`'s peer-a holds a connection to `to`'s. */
export const connected = (from: TestDaemon, to: TestDaemon) =>
  from.core.nodes.handle('peer-a').libp2p.getConnections(peerIdFromString(to.peerId)).length > 0

/** The raw shared datastore of a daemon (peer-a's): roots, counts and the cache index live there. */
export const datastoreOf = (d: TestDaemon) => d.core.nodes.handle('peer-a').datastore

/** Every block key in the daemon's store. */
export async function storedKeys(d: TestDaemon): Promise<Set<string>> {
  const keys = new Set<string>()
  for await (const { cid } of blocksOf(d).getAll()) keys.add(blockKey(cid))
  return keys
}

/**
 * Blocks no directory root and no cache entry reaches, computed here independently of the
 * collector: roots and cache entries read from the datastore, DAGs walked over the store (a block
 * that is not held counts as a leaf).
 */
export async function unreferencedBlocks(d: TestDaemon): Promise<string[]> {
  const roots: CID[] = []
  for await (const { value } of datastoreOf(d).query({ prefix: '/switchboard/files/roots/' }))
    roots.push(CID.parse(new TextDecoder().decode(value)))
  for await (const { value } of datastoreOf(d).query({ prefix: '/switchboard/files/cache/' }))
    roots.push(CID.parse((JSON.parse(new TextDecoder().decode(value)) as { root: string }).root))
  const empty = dagPb.encode({ Links: [] })
  const reached: CID[] = []
  for (const root of roots) await walkBlocks(root, (c) => toBuffer(blocksOf(d).get(c)).catch(() => empty), reached)
  const live = new Set(reached.map(blockKey))
  return [...(await storedKeys(d))].filter((k) => !live.has(k))
}

/** Poll `check` until it holds, for at most `timeoutMs`; returns its last value. */
export async function eventually<T>(read: () => Promise<T>, check: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs
  let value = await read()
  while (!check(value) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 50))
    value = await read()
  }
  return value
}

export interface RawResponse {
  status: number
  headers: IncomingHttpHeaders
  body: string
  /** Resolves when the server has closed the connection. */
  closed: Promise<void>
}

/**
 * A PUT written by hand (node:http), so a test can send part of a body, stall or hang up: `write`
 * resolves once the chunk is handed to the socket; `response` settles when the daemon answers.
 */
export function openPut(d: { origin: string; token: string }, path: string, headers: Record<string, string | number> = {}) {
  const url = new URL(d.origin)
  const req = request({
    host: '127.0.0.1',
    port: Number(url.port),
    method: 'PUT',
    path,
    headers: { authorization: `Bearer ${d.token}`, ...headers },
  })
  const closed = new Promise<void>((resolve) => req.once('socket', (s) => s.once('close', () => resolve())))
  const response = new Promise<RawResponse>((resolve, reject) => {
    req.once('error', reject)
    req.once('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.once('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), closed }),
      )
      res.once('error', reject)
    })
  })
  response.catch(() => {})
  const write = (chunk: Uint8Array) => new Promise<void>((resolve, reject) => req.write(chunk, (err) => (err ? reject(err) : resolve())))
  return { req, write, response, closed }
}
