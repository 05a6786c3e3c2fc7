/** Whether an address may enter the book, and under which key: the scope filter and peer id checks. */
import { type AddressScope, type ParsedAddress, isPeerIdString, tryParseAddress } from '../address-group.ts'
import { ADDRESS_SOURCES, type AddressSource } from './entry.ts'

export type AddReason =
  | 'exists'
  | 'invalid'
  | 'peer-mismatch'
  | 'unspecified'
  | 'reserved'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'group-full'
  | 'full'
  | 'pending-test'

/** Which non-public scopes are allowed; unspecified and reserved never are. */
export interface ScopePolicy {
  allowLoopback: boolean
  allowPrivate: boolean
  allowLinkLocal: boolean
}

/** An address that passed validation, with the key its entry has (or will have). */
export interface Candidate {
  key: string
  parsed: ParsedAddress
  peerId: string | undefined
  source: AddressSource
}

/** Whether `policy` lets an address of `scope` in: undefined when it does, else the refusal reason. */
export function scopeRefusal(scope: AddressScope, policy: ScopePolicy): AddReason | undefined {
  switch (scope) {
    case 'unspecified':
      return 'unspecified'
    case 'reserved':
      return 'reserved'
    case 'loopback':
      return policy.allowLoopback ? undefined : 'loopback'
    case 'private':
      return policy.allowPrivate ? undefined : 'private'
    case 'linkLocal':
      return policy.allowLinkLocal ? undefined : 'link-local'
    case 'public':
      return undefined
  }
}

/** Validate an address for insertion; a string is the refusal reason. */
export function toCandidate(
  multiaddr: string,
  peerId: string | undefined,
  source: AddressSource,
  policy: ScopePolicy,
): Candidate | AddReason {
  if (!ADDRESS_SOURCES.includes(source)) return 'invalid'
  if (peerId !== undefined && !isPeerIdString(peerId)) return 'invalid'
  const parsed = tryParseAddress(multiaddr)
  if (parsed === undefined) return 'invalid'
  if (parsed.peerId !== undefined && peerId !== undefined && parsed.peerId !== peerId) return 'peer-mismatch'
  const refused = scopeRefusal(parsed.scope, policy)
  if (refused !== undefined) return refused
  const pid = parsed.peerId ?? peerId
  const key = parsed.peerId === undefined && pid !== undefined ? `${parsed.multiaddr}/p2p/${pid}` : parsed.multiaddr
  return { key, parsed, peerId: pid, source }
}
