import { createPrivateKey, type KeyObject, sign } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'

/**
 * libp2p's Ed25519 private key (`@libp2p/crypto`, Node build) imports itself into a Node `KeyObject`
 * from a JWK on every `sign()`: as long as the signature itself (about 65 µs each under the bench's
 * load), paid by every GossipSub publish (messages are signed) and every Noise handshake. This
 * imports the key once, on its first signature, and signs with that `KeyObject` from then on: the
 * same deterministic Ed25519 signature, byte for byte. Other key types are returned as they are.
 *
 * The key object itself gets the faster `sign` (an own property over its class's method), so every
 * holder of it (libp2p's components, GossipSub's publish config, Noise) signs the same way.
 */
export function withImportedSigningKey<K extends PrivateKey>(key: K): K {
  if (key.type !== 'Ed25519' || key.raw.byteLength !== 64) return key
  let imported: KeyObject | undefined
  const signer = (message: Uint8Array | { subarray(): Uint8Array }, options?: { signal?: AbortSignal }): Uint8Array => {
    options?.signal?.throwIfAborted()
    imported ??= createPrivateKey({
      format: 'jwk',
      key: {
        kty: 'OKP',
        crv: 'Ed25519',
        d: Buffer.from(key.raw.subarray(0, 32)).toString('base64url'),
        x: Buffer.from(key.raw.subarray(32)).toString('base64url'),
      },
    })
    return sign(null, message instanceof Uint8Array ? message : message.subarray(), imported)
  }
  Object.defineProperty(key, 'sign', { value: signer, configurable: true, writable: true })
  return key
}
