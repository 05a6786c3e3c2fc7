/**
 * Presence records (seed design 003's "online peers"): a peer says "I am online, reach me here"
 * on a well-known GossipSub topic, signed with its own libp2p key so nobody can speak for it.
 *
 * Wire format (UTF-8 JSON, one record per GossipSub message):
 *   {"v":1,"peerId","nickname","multiaddrs":[...],"createdAt","expiresAt","signature":<base64>}
 * `createdAt` and `expiresAt` are epoch milliseconds. The signature covers the canonical bytes
 * `switchboard-presence:v1\n` + JSON.stringify([peerId, nickname, multiaddrs, createdAt, expiresAt])
 * (an array of primitives, so the encoding is deterministic), made with the peer's private key and
 * checked with the public key inside its peer id (or the GossipSub message key for RSA ids).
 */
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { type Static, Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

/** Every node subscribes to this topic; a client may not use it for its own topics. */
export const PRESENCE_TOPIC = 'switchboard/presence/1'
export const PRESENCE_VERSION = 1
export const MAX_PRESENCE_TTL_SECONDS = 3600
export const MAX_NICKNAME_LENGTH = 64
export const MAX_PRESENCE_ADDRS = 32
/** A record whose createdAt is further ahead of our clock than this is refused. */
export const MAX_CLOCK_SKEW_MS = 60_000
/** Larger messages are refused before parsing. */
export const MAX_PRESENCE_BYTES = 16 * 1024

const DOMAIN = 'switchboard-presence:v1\n'

/** What `presence.list` answers for one peer. */
export const PresenceSchema = Type.Object(
  {
    peerId: Type.String({ minLength: 1, maxLength: 256 }),
    nickname: Type.String({ maxLength: MAX_NICKNAME_LENGTH }),
    multiaddrs: Type.Array(Type.String({ minLength: 1, maxLength: 512 }), { maxItems: MAX_PRESENCE_ADDRS }),
    createdAt: Type.Integer({ minimum: 0 }),
    expiresAt: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
)
export type Presence = Static<typeof PresenceSchema>

const SignedPresenceSchema = Type.Object(
  {
    v: Type.Literal(PRESENCE_VERSION),
    ...PresenceSchema.properties,
    signature: Type.String({ minLength: 1, maxLength: 2048 }),
  },
  { additionalProperties: false },
)
export type SignedPresence = Static<typeof SignedPresenceSchema>

/** Not a presence record at all (bad JSON, wrong shape); `field` names what is wrong. */
export class MalformedPresenceError extends Error {
  override name = 'MalformedPresenceError'
}
/** Well-formed, but not signed by the peer it names, or sent by another peer. */
export class ForgedPresenceError extends Error {
  override name = 'ForgedPresenceError'
}
export class ExpiredPresenceError extends Error {
  override name = 'ExpiredPresenceError'
}

export function signingBytes(p: Presence): Uint8Array {
  return new TextEncoder().encode(DOMAIN + JSON.stringify([p.peerId, p.nickname, p.multiaddrs, p.createdAt, p.expiresAt]))
}

/** A fresh record for the owner of `privateKey`, valid for `ttlSeconds` from `now`. */
export async function createPresence(
  privateKey: PrivateKey,
  opts: { nickname: string; multiaddrs: string[]; ttlSeconds: number; now?: number },
): Promise<SignedPresence> {
  const createdAt = opts.now ?? Date.now()
  const presence: Presence = {
    peerId: peerIdFromPrivateKey(privateKey).toString(),
    nickname: opts.nickname,
    multiaddrs: opts.multiaddrs.slice(0, MAX_PRESENCE_ADDRS),
    createdAt,
    expiresAt: createdAt + opts.ttlSeconds * 1000,
  }
  const signature = await privateKey.sign(signingBytes(presence))
  return { v: PRESENCE_VERSION, ...presence, signature: Buffer.from(signature).toString('base64') }
}

export function encodePresence(record: SignedPresence): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(record))
}

/** Parse and shape-check a message; throws MalformedPresenceError naming the field. */
export function decodePresence(data: Uint8Array): SignedPresence {
  if (data.byteLength > MAX_PRESENCE_BYTES)
    throw new MalformedPresenceError(`presence record of ${data.byteLength} bytes is over ${MAX_PRESENCE_BYTES}`)
  let parsed: unknown
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data))
  } catch (err) {
    throw new MalformedPresenceError(`presence record is not JSON: ${(err as Error).message}`)
  }
  const first = Value.Errors(SignedPresenceSchema, parsed).First()
  if (first) throw new MalformedPresenceError(`presence record${first.path.replace(/\//g, '.') || ''}: ${first.message}`)
  const record = parsed as SignedPresence
  if (record.expiresAt <= record.createdAt) throw new MalformedPresenceError('presence record.expiresAt: not after createdAt')
  if (record.expiresAt - record.createdAt > MAX_PRESENCE_TTL_SECONDS * 1000) {
    throw new MalformedPresenceError(`presence record.expiresAt: lifetime over ${MAX_PRESENCE_TTL_SECONDS} s`)
  }
  return record
}

/**
 * Check that `record` was made by the peer it names and sent by that same peer (`from`, the
 * GossipSub author), and that it is current. Resolves with the public part; throws
 * ForgedPresenceError or ExpiredPresenceError.
 */
export async function verifyPresence(
  record: SignedPresence,
  from: string,
  opts: { now?: number; messageKey?: PublicKey } = {},
): Promise<Presence> {
  const now = opts.now ?? Date.now()
  let key: PublicKey | undefined
  try {
    key = peerIdFromString(record.peerId).publicKey
  } catch {
    throw new ForgedPresenceError(`presence record.peerId: ${JSON.stringify(record.peerId.slice(0, 100))} is not a peer id`)
  }
  if (record.peerId !== from) throw new ForgedPresenceError(`presence record for ${record.peerId} was sent by ${from}`)
  // RSA peer ids do not carry their key: the GossipSub message key is the author's, checked by GossipSub
  key ??= opts.messageKey
  if (!key) throw new ForgedPresenceError(`presence record for ${record.peerId}: no public key to check it with`)
  const { signature, v: _v, ...presence } = record
  let valid = false
  try {
    valid = await key.verify(signingBytes(presence), Buffer.from(signature, 'base64'))
  } catch {
    valid = false
  }
  if (!valid) throw new ForgedPresenceError(`presence record for ${record.peerId}: bad signature`)
  if (record.createdAt > now + MAX_CLOCK_SKEW_MS)
    throw new MalformedPresenceError(`presence record.createdAt: ${record.createdAt - now} ms in the future`)
  if (record.expiresAt <= now)
    throw new ExpiredPresenceError(`presence record for ${record.peerId} expired ${now - record.expiresAt} ms ago`)
  return presence
}
