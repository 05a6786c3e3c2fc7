import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { fromCallback, fromPromise } from 'xstate'
import { OperationFailedError } from '../../errors.ts'
import { actorLookup, type DhtRef } from '../../machines/actor-refs.ts'
import type { DialResult, PeerEvent, SyncProgress } from '../../machines/peer/peer.types.ts'
import { dialOrder } from '../../p2p/address-book/dial-order.ts'
import { hostOf, hostVerdict, isLoopbackAddr, loopbackMayBePeer } from '../../p2p/dial-host.ts'
import { dialSignal } from '../../p2p/dial-signal.ts'
import { enqueueDhtOp } from '../dht/dht-queue.ts'
import type { NodeRuntime, NodeRuntimes } from '../node/node-runtimes.ts'
import { bestConnectionType } from './connection-type.ts'

export class PeerBannedError extends OperationFailedError {
  override name = 'PeerBannedError'
}
export class NoAddressError extends OperationFailedError {
  override name = 'NoAddressError'
}

const withPeer = (addr: string, peerId: string) => (addr.includes('/p2p/') ? addr : `${addr}/p2p/${peerId}`)

/**
 * Reach a peer: its address-book endpoints best first, then what the peer store knows, then a DHT
 * lookup through the node's queue. Every outcome is recorded in the address book; a failure costs
 * the peer at most the small local-failure penalty.
 */
async function dialPeer(
  runtimes: NodeRuntimes,
  runtime: NodeRuntime,
  dht: DhtRef | undefined,
  peerId: PeerId,
  signal: AbortSignal,
): Promise<DialResult> {
  const { addressBook, reputation, activity, dialTimeoutMs } = runtimes.shared
  const alias = runtime.spec.alias
  const libp2p = runtimes.handle(alias).libp2p
  const id = peerId.toString()
  const open = libp2p.getConnections(peerId)
  if (open.length > 0) return { connectionType: bestConnectionType(open), at: Date.now() }
  if (reputation.isBanned(id)) throw new PeerBannedError(`peer ${id} is banned`)
  activity.add({ type: 'info', alias, peerId: id, message: `connecting to ${id}` })

  // When the actor stops this dial (the peer connected) or a deadline passes, an outbound connection
  // to the peer may be this dial's own, which libp2p closes with the dial's signal: the dial goes on.
  // A peer that connected only inbound came in on its own dial: ours is cut, or the pair would pay a
  // second handshake (both ends dial after a heal)
  const mayBeOurs = () => libp2p.getConnections(peerId).some((c) => c.direction === 'outbound')
  const { signal: timeout, release } = dialSignal(signal, dialTimeoutMs, mayBeOurs)
  const confirmations = libp2p.services.confirmations
  const errors: string[] = []
  // a host that answered, or that the network cannot reach, is not tried again on another of its
  // transports within this dial; a peer's loopback addresses only while they may be it (dial-host.ts)
  const judged = new Set<string>()
  const tried = new Set<string>()
  const book = dialOrder(addressBook.forPeer(id))
  const peerAddrs = new Set(book.map((e) => e.multiaddr))
  // the node's cached list: libp2p.getMultiaddrs() reads every network interface on each call
  const ownHosts = new Set(libp2p.services.addresses.multiaddrs().flatMap((a) => hostOf(a) ?? []))
  const worthTrying = (addr: string) => {
    if (tried.has(addr) || (isLoopbackAddr(addr) && !loopbackMayBePeer(peerAddrs, ownHosts))) return false
    const host = hostOf(addr)
    return host === undefined || !judged.has(host)
  }
  const tryAddr = async (addr: string): Promise<DialResult | undefined> => {
    if (!worthTrying(addr)) return undefined
    tried.add(addr)
    addressBook.markAttempt(addr, id)
    // one address that hangs (a black hole, a WebRTC handshake nobody answers) leaves time for the
    // next; one that answered (its handshake began) keeps the whole budget: on a loaded host a
    // handshake may take seconds, and cutting it at half the budget threw the work away and started
    // again elsewhere (a twenty-daemon heal aborted 153 handshakes at 5 s, docs/lab.md)
    const deadline = dialSignal(timeout, Math.max(1, Math.floor(dialTimeoutMs / 2)), mayBeOurs)
    let handshakeBegan = false
    const onProgress = (e: { type: string }) => {
      if (e.type.startsWith('upgrader:')) {
        handshakeBegan = true
        deadline.disarm()
      }
    }
    try {
      const conn = await libp2p.dial(multiaddr(withPeer(addr, id)), { signal: deadline.signal, onProgress })
      await confirmations.confirmAny([conn], deadline.signal)
      addressBook.markSuccess(addr, id)
      return { connectionType: bestConnectionType([conn]), at: Date.now() }
    } catch (err) {
      addressBook.markFailure(addr, id)
      errors.push(`${addr}: ${(err as Error).message}`)
      const host = hostOf(addr)
      if (host !== undefined && hostVerdict(err, handshakeBegan) !== 'unknown') judged.add(host)
      return undefined
    } finally {
      deadline.release()
    }
  }

  runtime.dials.inFlight += 1
  runtime.dials.max = Math.max(runtime.dials.max, runtime.dials.inFlight)
  try {
    for (const entry of book.slice(0, 8)) {
      const result = await tryAddr(entry.multiaddr)
      if (result) return result
      if (timeout.aborted) break
    }
    if (!timeout.aborted) {
      const known = await libp2p.peerStore.get(peerId).catch(() => undefined)
      const stored = (known?.addresses ?? []).map((a) => a.multiaddr.toString())
      for (const a of stored) peerAddrs.add(a)
      const untried = stored.filter(worthTrying)
      if (untried.length > 0) {
        try {
          const conn = await libp2p.dial(
            untried.map((a) => multiaddr(withPeer(a, id))),
            { signal: timeout },
          )
          await confirmations.confirmAny([conn], timeout)
          return { connectionType: bestConnectionType([conn]), at: Date.now() }
        } catch (err) {
          errors.push(`peer store: ${(err as Error).message}`)
        }
      }
    }
    // a DHT that is not ready would hold the lookup until the dial times out: say so at once instead
    const noAddress = errors.length === 0 ? 'no address known and ' : ''
    if (!timeout.aborted && dht && dht.getSnapshot().value !== 'ready') errors.push(`${noAddress}the DHT is not ready for a lookup`)
    else if (!timeout.aborted && dht) {
      const found = await enqueueDhtOp(dht, { kind: 'findPeer', key: id }, timeout).catch((err: Error) => {
        errors.push(`DHT lookup: ${err.message}`)
        return undefined
      })
      for (const addr of found?.addrs ?? []) peerAddrs.add(addr)
      for (const addr of found?.addrs ?? []) {
        addressBook.add(addr, { peerId: id, source: 'dht' })
        const result = await tryAddr(addr)
        if (result) return result
      }
    }
    if (errors.length === 0) throw new NoAddressError(`no known address for ${id}`)
    throw new Error(
      timeout.aborted && !signal.aborted
        ? `dial timed out after ${dialTimeoutMs} ms (tried ${errors.length}, the last ${Math.min(3, errors.length)}: ${errors.slice(-3).join('; ')})`
        : errors.slice(-3).join('; '),
    )
  } catch (err) {
    // cut because the peer came in on its own connection (mayBeOurs): the peer is reached all the same
    const open = libp2p.getConnections(peerId)
    if (signal.aborted && open.length > 0) return { connectionType: bestConnectionType(open), at: Date.now() }
    if (!signal.aborted) {
      reputation.localFailure(id)
      activity.add({ type: 'error', alias, peerId: id, message: `cannot connect to ${id}: ${(err as Error).message}` })
    }
    throw err
  } finally {
    release()
    runtime.dials.inFlight -= 1
  }
}

/** Resolves when the peer's running dial (if any) has settled: with its error if it failed. */
export function dialSettled(runtime: NodeRuntime | undefined, peerId: string): Promise<Error | undefined> {
  const dial = runtime?.dials.running.get(peerId)
  const failure = (err: unknown) => (err instanceof Error ? err : new Error(String(err)))
  return dial === undefined ? Promise.resolve(undefined) : dial.then(() => undefined, failure)
}

function track(runtime: NodeRuntime, peerId: string, dial: Promise<DialResult>): Promise<DialResult> {
  const running = runtime.dials.running
  running.set(peerId, dial)
  const forget = () => {
    if (running.get(peerId) === dial) running.delete(peerId)
  }
  dial.then(forget, forget)
  return dial
}

/** Syncs one known peer's directory into its replica (the node's sync service); rejects when aborted. */
export type SyncRunner = (
  alias: string,
  peerId: string,
  opts: { signal: AbortSignal; onProgress: (progress: SyncProgress) => void },
) => Promise<{ at: number }>

const noSync: SyncRunner = () => Promise.reject(new Error('this daemon does not sync'))

/** The peer machine's side effects, bound to the live runtimes. */
export function peerActors(runtimes: NodeRuntimes, sync: SyncRunner = noSync) {
  return {
    sync: fromCallback<PeerEvent, { alias: string; peerId: string }>(({ input, sendBack }) => {
      const abort = new AbortController()
      // a runner that throws at once (the node stopping under it) fails the sync like one that rejects
      Promise.resolve()
        .then(() =>
          sync(input.alias, input.peerId, {
            signal: abort.signal,
            onProgress: (progress) => sendBack({ type: 'peer.syncProgress', progress }),
          }),
        )
        .then(
          ({ at }) => sendBack({ type: 'peer.syncDone', at }),
          (err: unknown) => {
            // stopped by the machine (disconnect, forget): nobody is left to tell
            if (!abort.signal.aborted) sendBack({ type: 'peer.syncFailed', error: err instanceof Error ? err.message : String(err) })
          },
        )
      return () => abort.abort(new Error('sync stopped: the peer left or was forgotten'))
    }),
    dial: fromPromise<DialResult, { alias: string; peerId: string }>(async ({ input, signal, system }) => {
      const runtime = runtimes.get(input.alias)
      if (!runtime) throw new Error(`local node ${input.alias} is not running`)
      const dht = actorLookup(system).dht(input.alias)
      return track(runtime, input.peerId, dialPeer(runtimes, runtime, dht, peerIdFromString(input.peerId), signal))
    }),
    hangUp: fromPromise<void, { alias: string; peerId: string }>(async ({ input, signal }) => {
      await runtimes.handle(input.alias).libp2p.hangUp(peerIdFromString(input.peerId), { signal })
    }),
  }
}
