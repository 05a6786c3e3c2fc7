import toBuffer from 'it-to-buffer'
import { CID } from 'multiformats/cid'
import { walkBlocks } from '../../src/p2p/files/directory.ts'
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

export const store = (c: SwitchboardClient, path: string, content: string | Uint8Array) => c.call<Stored>('storefile', { path, content: b64(content), directory: false })

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
export const blocksOf = (d: TestDaemon) => d.sb.runtimes.handle('peer-a').blockstore

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
