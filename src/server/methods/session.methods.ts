import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { Type } from '@sinclair/typebox'
import { restoreRoot } from '../../actors/files/files.ts'
import { dialSignal } from '../../p2p/dial-signal.ts'
import { decodePrivateKey, encodePrivateKey } from '../../p2p/identity.ts'
import { parseCid } from '../../p2p/validate.ts'
import type { Switchboard } from '../../switchboard.ts'
import { defineMethod } from '../method.ts'
import { badRequest, conflict } from '../rpc-error.ts'

/** Local peers in one process reach each other directly, so two tabs on one daemon talk with no DHT. */
async function meetLocalPeers(sb: Switchboard, alias: string): Promise<void> {
  const self = sb.runtimes.get(alias)?.handle?.libp2p
  if (!self) return
  await Promise.allSettled(
    sb.runtimes.all().map(async (other) => {
      const libp2p = other.handle?.libp2p
      if (!libp2p || other.spec.alias === alias) return
      const addr = libp2p.getMultiaddrs().find((a) => a.toString().includes('/127.0.0.1/tcp/')) ?? libp2p.getMultiaddrs()[0]
      if (!addr) return
      const dial = dialSignal(new AbortController().signal, sb.config.dialTimeoutMs)
      try {
        await self.dial(multiaddr(addr.toString()), { signal: dial.signal })
      } finally {
        dial.release()
      }
    }),
  )
}

export const sessionMethods = [
  defineMethod({
    name: 'peer',
    params: Type.Object({
      peerkey: Type.Optional(Type.String({ minLength: 1, maxLength: 16384 })),
      rootDirectory: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    }),
    handler: async ({ peerkey, rootDirectory }, { sb, session }) => {
      if (session.alias !== undefined) throw conflict(`this connection is already bound to ${session.alias}; peer must be its first call`)
      if (rootDirectory !== undefined) parseCid(rootDirectory, 'rootDirectory')
      let privateKey: PrivateKey
      if (peerkey !== undefined) {
        if (!/^[A-Za-z0-9+/]+={0,2}$/.test(peerkey)) throw badRequest('peerkey: not base64')
        try {
          privateKey = decodePrivateKey(Buffer.from(peerkey, 'base64'), 'peerkey')
        } catch (err) {
          throw badRequest((err as Error).message)
        }
      } else {
        privateKey = await generateKeyPair('Ed25519')
      }
      const peerid = peerIdFromPrivateKey(privateKey).toString()
      const hostedBy = sb.aliasOfPeerId(peerid)
      if (hostedBy !== undefined) throw conflict(`peer ${peerid} is already hosted here as ${hostedBy}`)
      // bind first (synchronously with the alias taken) so a racing call on this socket gets 409
      const alias = sb.allocateAlias()
      session.bind(alias)
      const started = sb.startNode(alias, privateKey, { persistent: false })
      const stop = () => sb.stopNode(alias)
      session.onClose(stop)
      try {
        await started
        if (rootDirectory !== undefined) await restoreRoot(sb, alias, rootDirectory, session.signal)
      } catch (err) {
        // nothing half-made stays bound: the peer goes, and the client may try `peer` again
        await stop().catch(() => {})
        session.unbind()
        throw err
      }
      void meetLocalPeers(sb, alias)
      return { peerid, peerkey: encodePrivateKey(privateKey), version: sb.version }
    },
  }),
]
