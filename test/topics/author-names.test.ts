import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromMultihash, peerIdFromPrivateKey } from '@libp2p/peer-id'
import * as Digest from 'multiformats/hashes/digest'
import { describe, expect, it } from 'vitest'
import { AuthorNames } from '../../src/actors/topic/topics-extension.ts'

/** A message author as GossipSub delivers it: a PeerId decoded anew from the message's bytes. */
const asDelivered = (bytes: Uint8Array) => peerIdFromMultihash(Digest.decode(bytes))

describe('AuthorNames', () => {
  it('gives each message author the text of its peer id, however many authors and messages there are', async () => {
    const names = new AuthorNames()
    const ids = await Promise.all(Array.from({ length: 3 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
    // interleaved, several messages each, every one with a fresh PeerId
    for (let round = 0; round < 3; round++) {
      for (const id of ids) expect(names.text(asDelivered(id.toMultihash().bytes))).toBe(id.toString())
    }
    // a key that is not Ed25519 (a longer multihash) and an author without multihash bytes
    const rsaLike = peerIdFromPrivateKey(await generateKeyPair('secp256k1'))
    expect(names.text(asDelivered(rsaLike.toMultihash().bytes))).toBe(rsaLike.toString())
    expect(names.text({ toString: () => 'plain' })).toBe('plain')
  })

  it('stays right past the number of authors it keeps', async () => {
    const names = new AuthorNames()
    const ids = await Promise.all(Array.from({ length: 1100 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
    for (const id of ids) expect(names.text(asDelivered(id.toMultihash().bytes))).toBe(id.toString())
    for (const id of ids.slice(0, 50)) expect(names.text(asDelivered(id.toMultihash().bytes))).toBe(id.toString())
  })

  it('reads a multihash that is a view into a larger buffer by its own bytes only', async () => {
    const names = new AuthorNames()
    const [a, b] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
    const idA = peerIdFromPrivateKey(a)
    const idB = peerIdFromPrivateKey(b)
    const both = new Uint8Array([...idA.toMultihash().bytes, ...idB.toMultihash().bytes])
    const len = idA.toMultihash().bytes.byteLength
    expect(names.text(asDelivered(both.subarray(0, len)))).toBe(idA.toString())
    expect(names.text(asDelivered(both.subarray(len)))).toBe(idB.toString())
  })
})
