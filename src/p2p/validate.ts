import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { InvalidRequestError } from '../errors.ts'

/** Input from outside that does not parse; `field` names where it came from. */
export class InvalidInputError extends InvalidRequestError {
  override name = 'InvalidInputError'
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`)
  }
}

export function parsePeerId(value: string, field = 'peerId'): PeerId {
  try {
    return peerIdFromString(value)
  } catch {
    throw new InvalidInputError(field, `${JSON.stringify(value.slice(0, 100))} is not a valid peer id`)
  }
}

export function parseCid(value: string, field = 'cid'): CID {
  try {
    return CID.parse(value)
  } catch {
    throw new InvalidInputError(field, `${JSON.stringify(value.slice(0, 100))} is not a valid CID`)
  }
}

export function parseMultiaddr(value: string, field = 'multiaddr'): Multiaddr {
  try {
    return multiaddr(value)
  } catch {
    throw new InvalidInputError(field, `${JSON.stringify(value.slice(0, 200))} is not a valid multiaddr`)
  }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/** Standard base64, padded or not; anything else (URL alphabet, spaces, stray `=`) is refused. */
export function decodeBase64(text: string, field: string): Uint8Array {
  const padded = text.includes('=')
  if (!BASE64.test(text) || text.length % 4 === 1 || (padded && text.length % 4 !== 0))
    throw new InvalidInputError(field, 'is not valid base64')
  return new Uint8Array(Buffer.from(text, 'base64'))
}
