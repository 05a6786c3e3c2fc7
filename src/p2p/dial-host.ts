/**
 * What one failed address of a dial says about the host behind it:
 * - `answered`: the connection was made and the handshake began, then failed (the peer refused us,
 *   reset, or was too busy to finish in time). Its other transports on that host reach the same
 *   process, which answers the same way, and a WebRTC-direct attempt (a certificate made per dial,
 *   ICE, DTLS, SCTP) costs it more than the TCP one did.
 * - `unreachable`: the network says the host cannot be reached (EHOSTUNREACH, ENETUNREACH): no
 *   transport to that address gets through either.
 * - `unknown`: refused (a port closed, e.g. one listener down), or silent (a black hole that may
 *   be TCP only): the host's other transports are still worth a try.
 *
 * In a partition a dial used to try TCP, WebSockets and WebRTC-direct on the same unreachable host
 * one after another; after a heal, a refused handshake fell through to WebRTC-direct on a host that
 * was busy already (docs/lab.md).
 */
export type HostVerdict = 'answered' | 'unreachable' | 'unknown'

const UNREACHABLE_CODES = new Set(['EHOSTUNREACH', 'ENETUNREACH'])
const UNREACHABLE_TEXT = /\b(EHOSTUNREACH|ENETUNREACH)\b/

export function hostVerdict(err: unknown, handshakeBegan: boolean): HostVerdict {
  if (handshakeBegan) return 'answered'
  // libp2p wraps the socket's error (ConnectionFailedError, AggregateError of a transport): look down the causes
  const seen = new Set<unknown>()
  const queue: unknown[] = [err]
  while (queue.length > 0 && seen.size < 16) {
    const e = queue.shift()
    if (e === null || typeof e !== 'object' || seen.has(e)) continue
    seen.add(e)
    const { code, message, cause, errors } = e as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown }
    if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) return 'unreachable'
    if (typeof message === 'string' && UNREACHABLE_TEXT.test(message)) return 'unreachable'
    queue.push(cause)
    if (Array.isArray(errors)) queue.push(...errors)
  }
  return 'unknown'
}

/** The host of a multiaddr string (an IP address or a DNS name), or undefined when it names none. */
export function hostOf(addr: string): string | undefined {
  return /^\/(?:ip4|ip6|dns|dns4|dns6)\/([^/]+)/.exec(addr)?.[1]
}

const LOOPBACK = /^\/(?:ip4\/127\.|ip6\/::1\/)/

export const isLoopbackAddr = (addr: string): boolean => LOOPBACK.test(addr)

/**
 * Whether a peer's loopback addresses can reach it. They reach this host: the peer is there only if
 * its other addresses say so (one of them is an address of ours), or it announces no other. A daemon
 * on another host announces its 127.0.0.1 listeners too; dialled from here they hit our own ports,
 * where a WebRTC-direct attempt hangs for half the dial budget: after a heal, dials that began in the
 * partition sat on them while the network was back (docs/lab.md). A relayed address names the relay's
 * host, not the peer's, so it says nothing either way.
 */
export function loopbackMayBePeer(peerAddrs: Iterable<string>, ownHosts: ReadonlySet<string>): boolean {
  let elsewhere = false
  for (const addr of peerAddrs) {
    if (isLoopbackAddr(addr) || addr.includes('/p2p-circuit')) continue
    const host = hostOf(addr)
    if (host === undefined) continue
    if (ownHosts.has(host)) return true
    elsewhere = true
  }
  return !elsewhere
}
