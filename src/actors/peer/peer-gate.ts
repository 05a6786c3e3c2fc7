import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Ban, Reputation } from '../../p2p/reputation.ts'
import type { ActivityLog } from '../activity-log.ts'

export interface PeerGateDeps {
  reputation: Pick<Reputation, 'isBanned' | 'on' | 'save' | 'bans'>
  /** `unknownPeers` of the config: with `reject`, only known, added and bootstrap peers get in. */
  unknownPeers: 'allow' | 'reject'
  bootstrap: string[]
  /** A peer id of one of this daemon's own local nodes (tabs on one daemon always reach each other). */
  isLocalPeer(peerId: string): boolean
  /** Known (paired) or added to local node `alias`. */
  isKnownOrAdded(alias: string, peerId: string): boolean
  /** A pairing of local node `alias` expects this peer (a joiner's device), or a ticket is out that any device may use. */
  inPairing(alias: string, peerId: string): boolean
  /** Close every local node's connections to the peer. */
  hangUpEverywhere(peerId: PeerId): void
  activity: Pick<ActivityLog, 'add'>
  log: (msg: string) => void
}

/** Who may connect, and bans that take effect at once and are on disk before they are acknowledged. */
export class PeerGate {
  constructor(private readonly d: PeerGateDeps) {
    // a ban (manual or earned) takes effect at once: every local node hangs up on the peer
    d.reputation.on('ban', (ban) => {
      d.activity.add({
        type: 'info',
        alias: '*',
        peerId: ban.peerId,
        message: `banned ${ban.peerId} until ${new Date(ban.until).toISOString()}: ${ban.reason}`,
      })
      void d.reputation.save().catch((err: Error) => d.log(err.message))
      d.hangUpEverywhere(peerIdFromString(ban.peerId))
    })
  }

  /**
   * The connection gater's question: banned peers never get in; with `unknownPeers: reject` only
   * peers that are known, added or bootstrap peers do, and, while a pairing runs, the device it pairs with.
   */
  denyPeer(alias: string, peerId: string): boolean {
    if (this.d.reputation.isBanned(peerId)) return true
    if (this.d.unknownPeers === 'allow') return false
    if (this.d.isLocalPeer(peerId)) return false
    if (this.d.bootstrap.some((a) => a.endsWith(`/p2p/${peerId}`))) return false
    return !this.d.isKnownOrAdded(alias, peerId) && !this.d.inPairing(alias, peerId)
  }

  /** Ban a peer; resolves once the ban list holding it is on disk. */
  async ban(peerId: string, ttlSeconds: number | undefined, reason: string): Promise<Ban> {
    const ban = this.d.reputation.bans.add(peerId, ttlSeconds, reason)
    await this.d.reputation.save()
    return ban
  }

  /** Lift a ban; false when the peer was not banned. Resolves once the change is on disk. */
  async unban(peerId: string): Promise<boolean> {
    if (!this.d.reputation.bans.remove(peerId)) return false
    await this.d.reputation.save()
    return true
  }
}
