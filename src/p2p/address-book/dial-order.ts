import { tryParseAddress } from '../address-group.ts'

const isLoopback = (addr: string) => tryParseAddress(addr)?.scope === 'loopback'

/**
 * The order to dial a peer's addresses in: the book's (best chance first), with loopback addresses
 * after every other when the peer has any other. A peer on another host announces its 127.0.0.1
 * listeners too; dialled from here they reach our own host, where a WebRTC-direct dial hangs until
 * its deadline (the lab saw reconnects wait 10 s on one). A peer on our own host answers on its
 * other addresses as well, and one with only loopback addresses keeps them.
 */
export function dialOrder<T extends { multiaddr: string }>(entries: readonly T[]): T[] {
  const loopback = entries.filter((e) => isLoopback(e.multiaddr))
  if (loopback.length === 0 || loopback.length === entries.length) return [...entries]
  return [...entries.filter((e) => !isLoopback(e.multiaddr)), ...loopback]
}
