import { loopbackAddressLast, reliableTransportsFirst } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'

/**
 * The order to dial a peer's addresses in: libp2p's own preferences first, then the book's (best
 * chance first). Loopback addresses go last: a peer on another host announces its 127.0.0.1
 * listeners too, and dialled from here they reach our own host, where a WebRTC-direct dial hangs
 * until its deadline (the lab saw reconnects wait 10 s on one). Then reliable transports first (TCP,
 * WebSockets, then WebRTC-direct): two daemons that connect over WebRTC-direct pay a user-space
 * SCTP stack for every stream (bitswap opens one per message). The sort is stable, so the book's
 * ranking decides within each kind.
 */
export function dialOrder<T extends { multiaddr: string }>(entries: readonly T[]): T[] {
  // the book's entries were parsed when they were added: these parse
  return entries
    .map((entry, i) => ({ entry, i, ma: multiaddr(entry.multiaddr) }))
    .sort((a, b) => loopbackAddressLast(a.ma, b.ma) || reliableTransportsFirst(a.ma, b.ma) || a.i - b.i)
    .map((p) => p.entry)
}
