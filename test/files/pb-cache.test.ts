import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import { DAG_PB_CODEC } from '../../src/p2p/files/directory.ts'
import { decodePb, rememberPb } from '../../src/p2p/files/pb-cache.ts'

/** A directory-like dag-pb node linking `names`, with its CID. */
async function node(names: string[]): Promise<{ cid: CID; bytes: Uint8Array; node: dagPb.PBNode }> {
  const leaf = CID.create(1, 0x55, await sha256.digest(new TextEncoder().encode(names.join())))
  const made = dagPb.prepare({ Data: new Uint8Array([8, 1]), Links: names.map((Name) => ({ Name, Hash: leaf, Tsize: 1 })) })
  const bytes = dagPb.encode(made)
  return { cid: CID.create(1, DAG_PB_CODEC, await sha256.digest(bytes)), bytes, node: made }
}

describe('decoded dag-pb nodes', () => {
  it('answers a node decoded before from memory, and a node this process encoded without decoding it', async () => {
    const a = await node(['x', 'y'])
    const first = decodePb(a.cid, a.bytes)
    expect(first.Links.map((l) => l.Name)).toEqual(['x', 'y'])
    // the same bytes read again (a copy, as the blockstore hands them out): the same decoded node
    expect(decodePb(a.cid, a.bytes.slice())).toBe(first)

    const b = await node(['z'])
    rememberPb(b.cid, b.bytes, b.node)
    expect(decodePb(b.cid, b.bytes.slice())).toBe(b.node)
  })

  it('never answers with another block: bytes that differ from the ones cached under the CID are decoded', async () => {
    const a = await node(['kept'])
    const forged = await node(['forged'])
    decodePb(a.cid, a.bytes)
    // bytes from a peer that claim a's CID but hold other links
    expect(decodePb(a.cid, forged.bytes).Links.map((l) => l.Name)).toEqual(['forged'])
    expect(decodePb(a.cid, a.bytes).Links.map((l) => l.Name)).toEqual(['kept'])
  })

  it('keeps what it decoded when the caller reuses its buffer', async () => {
    const a = await node(['first'])
    const buffer = a.bytes.slice()
    const decoded = decodePb(a.cid, buffer)
    const other = await node(['other'])
    buffer.set(other.bytes.subarray(0, buffer.length))
    expect(decodePb(a.cid, a.bytes)).toBe(decoded)
  })
})
