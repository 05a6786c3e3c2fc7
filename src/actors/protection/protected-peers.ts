import { KEEP_ALIVE, type PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Switchboard } from '../../switchboard.ts'

/** Our own tag; its presence also tells us at start which keep-alive tags are ours to clear. */
export const PROTECTED_TAG = 'switchboard-protected'
/** What addpeers sets (seed 000: TagPeer(id, 'connected', 100)); libp2p keeps values in 0..100. */
export const PROTECTION_TAGS = { [KEEP_ALIVE]: { value: 100 }, [PROTECTED_TAG]: { value: 100 } }
export const NO_PROTECTION_TAGS = { [KEEP_ALIVE]: undefined, [PROTECTED_TAG]: undefined }

/**
 * A peer our pruner must never close: added (addpeers) or known (paired). Read from the peer
 * actor and the known-peers store, so protection cannot drift from what clients see.
 */
export function isProtectedPeer(sb: Switchboard, alias: string, peerId: string): boolean {
  if (sb.runtimes.get(alias)?.knownPeers.has(peerId)) return true
  const ctx = peerContext(sb, alias, peerId)
  return ctx?.added === true || ctx?.known === true
}

export function isAddedPeer(sb: Switchboard, alias: string, peerId: string): boolean {
  return peerContext(sb, alias, peerId)?.added === true
}

const peerContext = (sb: Switchboard, alias: string, peerId: string) => sb.peers.ref(alias, peerId)?.getSnapshot().context

/**
 * The valid, distinct remote peer ids of a client's list; every other entry is skipped and
 * reported in the activity feed (p2p-webapp ignores them silently; we say so).
 */
function validPeers(sb: Switchboard, alias: string, method: string, values: string[]): PeerId[] {
  const self = sb.runtimes.handle(alias).libp2p.peerId.toString()
  const seen = new Set<string>()
  const out: PeerId[] = []
  for (const [i, value] of values.entries()) {
    let id: PeerId
    try {
      id = peerIdFromString(value)
    } catch {
      sb.services.activity.add({
        type: 'error',
        alias,
        message: `${method}: skipped peerIds.${i}: ${JSON.stringify(value.slice(0, 100))} is not a valid peer id`,
      })
      continue
    }
    const text = id.toString()
    if (text === self) {
      sb.services.activity.add({
        type: 'error',
        alias,
        peerId: text,
        message: `${method}: skipped peerIds.${i}: ${text} is this local peer itself`,
      })
      continue
    }
    if (seen.has(text)) continue
    seen.add(text)
    out.push(id)
  }
  return out
}

/**
 * addpeers: each valid peer is tagged (keep-alive and ours, value 100 each), protected from our
 * pruner, and handed to its peer actor as added: dialled at once and retried with capped, jittered
 * backoff for as long as it stays added.
 */
export async function addPeers(sb: Switchboard, alias: string, values: string[]): Promise<void> {
  const libp2p = sb.runtimes.handle(alias).libp2p
  for (const id of validPeers(sb, alias, 'addpeers', values)) {
    const text = id.toString()
    await libp2p.peerStore.merge(id, { tags: PROTECTION_TAGS }).catch((err: Error) => {
      sb.services.activity.add({ type: 'error', alias, peerId: text, message: `addpeers: cannot tag ${text}: ${err.message}` })
    })
    sb.peers.route(alias, text, { type: 'peer.setAdded', added: true }, true)
    sb.services.activity.add({ type: 'info', alias, peerId: text, message: `added ${text}: protected and kept connected` })
  }
}

/** removepeers: protection and tags lifted; an open connection stays open. */
export async function removePeers(sb: Switchboard, alias: string, values: string[]): Promise<void> {
  const libp2p = sb.runtimes.handle(alias).libp2p
  for (const id of validPeers(sb, alias, 'removepeers', values)) {
    const text = id.toString()
    if (sb.peers.ref(alias, text)) sb.peers.route(alias, text, { type: 'peer.setAdded', added: false }, false)
    if (await libp2p.peerStore.has(id)) {
      await libp2p.peerStore.merge(id, { tags: NO_PROTECTION_TAGS }).catch((err: Error) => {
        sb.services.activity.add({ type: 'error', alias, peerId: text, message: `removepeers: cannot untag ${text}: ${err.message}` })
      })
    }
  }
}
