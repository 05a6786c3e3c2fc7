import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { Uint8ArrayList } from 'uint8arraylist'
import { describe, expect, it } from 'vitest'
import { withImportedSigningKey } from '../../src/p2p/ed25519-signer.ts'

describe('withImportedSigningKey', () => {
  it('signs exactly as libp2p does (Ed25519 is deterministic), for bytes and lists, and the signature verifies', async () => {
    const key = await generateKeyPair('Ed25519')
    const plain = privateKeyFromProtobuf(privateKeyToProtobuf(key))
    const fast = withImportedSigningKey(key)
    expect(fast).toBe(key)
    for (const message of [new Uint8Array(), new TextEncoder().encode('hello'), new Uint8Array(1100).fill(7)]) {
      const sig = await fast.sign(message)
      expect(Buffer.from(sig)).toEqual(Buffer.from(await plain.sign(message)))
      expect(await key.publicKey.verify(message, sig)).toBe(true)
    }
    const list = new Uint8ArrayList(new Uint8Array([1, 2]), new Uint8Array([3]))
    expect(Buffer.from(await fast.sign(list))).toEqual(Buffer.from(await plain.sign(new Uint8Array([1, 2, 3]))))
  })

  it('honours an aborted signal and leaves other key types alone', async () => {
    const key = withImportedSigningKey(await generateKeyPair('Ed25519'))
    const ac = new AbortController()
    ac.abort(new Error('stop'))
    expect(() => key.sign(new Uint8Array([1]), { signal: ac.signal })).toThrow('stop')
    const secp = await generateKeyPair('secp256k1')
    const sign = secp.sign
    expect(withImportedSigningKey(secp).sign).toBe(sign)
  })
})
