import { readFile } from 'node:fs/promises'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { writeFileAtomic, CorruptFileError } from './atomic-file.ts'

/**
 * Load the daemon's identity from `path`, creating an Ed25519 key on first start.
 * A file that exists but does not decode is an error naming it: the identity is never silently regenerated.
 */
export async function loadOrCreateIdentity(path: string): Promise<{ privateKey: PrivateKey; created: boolean }> {
  let bytes: Buffer
  try {
    bytes = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new CorruptFileError(path, `cannot read the identity key (${(err as Error).message})`)
    const privateKey = await generateKeyPair('Ed25519')
    await writeFileAtomic(path, privateKeyToProtobuf(privateKey), 0o600)
    return { privateKey, created: true }
  }
  return { privateKey: decodePrivateKey(bytes, path), created: false }
}

/** Decode a protobuf-encoded private key (the encoding libp2p uses); `source` names where it came from in errors. */
export function decodePrivateKey(bytes: Uint8Array, source: string): PrivateKey {
  if (bytes.length === 0) throw new CorruptFileError(source, 'empty private key')
  try {
    return privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new CorruptFileError(source, `not a protobuf-encoded libp2p private key (${(err as Error).message})`)
  }
}

export function encodePrivateKey(key: PrivateKey): string {
  return Buffer.from(privateKeyToProtobuf(key)).toString('base64')
}
