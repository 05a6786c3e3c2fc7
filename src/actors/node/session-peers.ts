import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { ConflictError } from '../../errors.ts'
import { dialSignal } from '../../p2p/dial-signal.ts'
import { decodePrivateKey, encodePrivateKey } from '../../p2p/identity.ts'
import { decodeBase64, InvalidInputError, parseCid } from '../../p2p/validate.ts'
import type { LocalNodes } from './local-nodes.ts'
import type { NodeServiceMap } from './node-runtimes.ts'

/** A `peer` call for an identity one of this daemon's local nodes already has. */
export class PeerAlreadyHostedError extends ConflictError {
  override name = 'PeerAlreadyHostedError'
}

export interface SessionPeersDeps {
  nodes: Pick<LocalNodes<NodeServiceMap>, 'aliasOfPeerId' | 'allocateAlias' | 'start' | 'stop' | 'get' | 'all'>
  /** Make `cid` the directory of local node `alias` (the files service's restoreRoot). */
  restoreRoot(alias: string, cid: string, signal: AbortSignal): Promise<unknown>
  dialTimeoutMs: number
}

export interface SessionPeerRequest {
  /** base64 of a protobuf private key; a new Ed25519 key when absent. */
  peerkey?: string
  rootDirectory?: string
  /** Told the alias as soon as it is taken, before the node starts (so the caller can bind it at once). */
  bind(alias: string): void
  signal: AbortSignal
}

/**
 * The session peers browser apps ask for (`peer`): one local node per connection, with the key the
 * app brings or a new one, optionally restored to a saved directory, and introduced to the other
 * local peers so two tabs on one daemon reach each other with no DHT.
 */
export class SessionPeers {
  constructor(private readonly d: SessionPeersDeps) {}

  /** Start a session peer; on any failure nothing half-made is left running. */
  async start(req: SessionPeerRequest): Promise<{ alias: string; peerid: string; peerkey: string }> {
    if (req.rootDirectory !== undefined) parseCid(req.rootDirectory, 'rootDirectory')
    const privateKey = req.peerkey === undefined ? await generateKeyPair('Ed25519') : keyFrom(req.peerkey)
    const peerid = peerIdFromPrivateKey(privateKey).toString()
    const hostedBy = this.d.nodes.aliasOfPeerId(peerid)
    if (hostedBy !== undefined) throw new PeerAlreadyHostedError(`peer ${peerid} is already hosted here as ${hostedBy}`)
    // taken and told synchronously, so a racing call sees the alias bound
    const alias = this.d.nodes.allocateAlias()
    req.bind(alias)
    try {
      await this.d.nodes.start(alias, privateKey, { persistent: false })
      if (req.rootDirectory !== undefined) await this.d.restoreRoot(alias, req.rootDirectory, req.signal)
    } catch (err) {
      await this.d.nodes.stop(alias).catch(() => {})
      throw err
    }
    void this.#meetLocalPeers(alias)
    return { alias, peerid, peerkey: encodePrivateKey(privateKey) }
  }

  /** Local peers in one process reach each other directly, so two tabs on one daemon talk with no DHT. */
  async #meetLocalPeers(alias: string): Promise<void> {
    const self = this.d.nodes.get(alias)?.handle?.libp2p
    if (!self) return
    await Promise.allSettled(
      this.d.nodes.all().map(async (other) => {
        const libp2p = other.handle?.libp2p
        if (!libp2p || other.spec.alias === alias) return
        const addr = libp2p.getMultiaddrs().find((a) => a.toString().includes('/127.0.0.1/tcp/')) ?? libp2p.getMultiaddrs()[0]
        if (!addr) return
        const dial = dialSignal(new AbortController().signal, this.d.dialTimeoutMs)
        try {
          await self.dial(multiaddr(addr.toString()), { signal: dial.signal })
        } finally {
          dial.release()
        }
      }),
    )
  }
}

function keyFrom(peerkey: string): PrivateKey {
  const bytes = decodeBase64(peerkey, 'peerkey')
  try {
    return decodePrivateKey(bytes, 'peerkey')
  } catch (err) {
    throw new InvalidInputError('peerkey', (err as Error).message.replace(/^peerkey: /, ''))
  }
}
