import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import {
  createPresence,
  decodePresence,
  encodePresence,
  ExpiredPresenceError,
  ForgedPresenceError,
  MalformedPresenceError,
  MAX_PRESENCE_TTL_SECONDS,
  signingBytes,
  verifyPresence,
} from '../../src/p2p/presence-record.ts'

const roundTrip = (r: Parameters<typeof encodePresence>[0]) => decodePresence(encodePresence(r))
const bytes = (v: unknown) => new TextEncoder().encode(JSON.stringify(v))

describe('presence records', () => {
  it('a record signed by its peer verifies, and its fields come back as announced', async () => {
    const key = await generateKeyPair('Ed25519')
    const id = peerIdFromPrivateKey(key).toString()
    const now = Date.now()
    const record = await createPresence(key, { nickname: 'ann', multiaddrs: ['/ip4/127.0.0.1/tcp/4001'], ttlSeconds: 60, now })
    expect(await verifyPresence(roundTrip(record), id, { now })).toEqual({
      peerId: id,
      nickname: 'ann',
      multiaddrs: ['/ip4/127.0.0.1/tcp/4001'],
      createdAt: now,
      expiresAt: now + 60_000,
    })
  })

  it('the canonical bytes change with every signed field', async () => {
    const base = { peerId: 'p', nickname: 'n', multiaddrs: ['/a'], createdAt: 1, expiresAt: 2 }
    const seen = new Set([Buffer.from(signingBytes(base)).toString('hex')])
    for (const change of [{ peerId: 'q' }, { nickname: 'm' }, { multiaddrs: ['/b'] }, { createdAt: 0 }, { expiresAt: 3 }]) {
      seen.add(Buffer.from(signingBytes({ ...base, ...change })).toString('hex'))
    }
    expect(seen.size).toBe(6)
  })

  it('forgeries: another key, a changed field, or a sender other than the peer named', async () => {
    const [key, other] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
    const id = peerIdFromPrivateKey(key).toString()
    const otherId = peerIdFromPrivateKey(other).toString()
    const genuine = await createPresence(key, { nickname: 'ann', multiaddrs: [], ttlSeconds: 60 })

    // signed by `other` but naming `id`
    const byOther = await createPresence(other, { nickname: 'ann', multiaddrs: [], ttlSeconds: 60 })
    await expect(verifyPresence(roundTrip({ ...byOther, peerId: id }), id)).rejects.toThrow(ForgedPresenceError)
    // a field changed after signing
    await expect(verifyPresence(roundTrip({ ...genuine, nickname: 'eve' }), id)).rejects.toThrow(/bad signature/)
    // a genuine record re-sent by someone else
    await expect(verifyPresence(roundTrip(genuine), otherId)).rejects.toThrow(/was sent by/)
    // garbage in the signature
    await expect(verifyPresence(roundTrip({ ...genuine, signature: 'AAAA' }), id)).rejects.toThrow(ForgedPresenceError)
  })

  it('an expired record is refused as expired', async () => {
    const key = await generateKeyPair('Ed25519')
    const id = peerIdFromPrivateKey(key).toString()
    const record = await createPresence(key, { nickname: '', multiaddrs: [], ttlSeconds: 1, now: Date.now() - 5_000 })
    await expect(verifyPresence(roundTrip(record), id)).rejects.toThrow(ExpiredPresenceError)
  })

  it('malformed records name what is wrong', async () => {
    const key = await generateKeyPair('Ed25519')
    const good = await createPresence(key, { nickname: 'ann', multiaddrs: [], ttlSeconds: 60 })
    expect(() => decodePresence(new TextEncoder().encode('{not json'))).toThrow(MalformedPresenceError)
    expect(() => decodePresence(bytes({ ...good, nickname: 'x'.repeat(65) }))).toThrow(/\.nickname/)
    expect(() => decodePresence(bytes({ ...good, v: 2 }))).toThrow(/\.v/)
    expect(() => decodePresence(bytes({ ...good, extra: 1 }))).toThrow(MalformedPresenceError)
    expect(() => decodePresence(bytes({ ...good, expiresAt: good.createdAt }))).toThrow(/expiresAt: not after createdAt/)
    expect(() => decodePresence(bytes({ ...good, expiresAt: good.createdAt + MAX_PRESENCE_TTL_SECONDS * 1000 + 1 }))).toThrow(
      /lifetime over/,
    )
    expect(() => decodePresence(new Uint8Array(20_000))).toThrow(/bytes is over/)
  })
})
