import { randomUUID } from 'node:crypto'
import { AbortError, NotFoundError, TimeoutError } from '@libp2p/interface'
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { UnavailableError } from '../../errors.ts'
import type { ActorLookup, DhtRef } from '../../machines/actor-refs.ts'
import type { DhtEmitted, DhtOp, DhtOpError } from '../../machines/dht/dht.types.ts'
import { NodeNotRunningError } from '../node/node-runtimes.ts'
import type { DhtOpResults, FoundPeer } from './dht-ops.ts'

export class DhtQueueFullError extends UnavailableError {
  override name = 'DhtQueueFullError'
}
export class DhtOpCancelledError extends UnavailableError {
  override name = 'DhtOpCancelledError'
}

/** What a caller asks for: the plain description of one operation, without its id and time. */
export type DhtOpRequest<K extends DhtOp['kind'] = DhtOp['kind']> = { kind: K; key: string; limit?: number }

/** libp2p's error kinds a DHT query throws, rebuilt from the name the runner reported (504, 500 'aborted: ' ...). */
function reviveError(e: DhtOpError): Error {
  const err =
    e.name === 'TimeoutError'
      ? new TimeoutError(e.message)
      : e.name === 'AbortError'
        ? new AbortError(e.message)
        : e.name === 'NotFoundError'
          ? new NotFoundError(e.message)
          : new Error(e.message)
  if (err.name !== e.name) err.name = e.name
  return err
}

/**
 * Enqueue one operation, as plain data, on a node's DHT actor and wait for its outcome. The actor
 * decides when it starts and its runner does the libp2p work; the outcome comes back as an emitted
 * event with the op's id. Aborting `signal` cancels it.
 */
export function enqueueDhtOp<K extends DhtOp['kind']>(
  dht: DhtRef,
  request: DhtOpRequest<K>,
  signal?: AbortSignal,
): Promise<DhtOpResults[K]> {
  if (signal?.aborted)
    return Promise.reject(signal.reason instanceof Error ? signal.reason : new DhtOpCancelledError('DHT operation cancelled'))
  if (dht.getSnapshot().status !== 'active') return Promise.reject(new DhtOpCancelledError('DHT actor is stopped'))
  const id = randomUUID()
  return new Promise<DhtOpResults[K]>((resolve, reject) => {
    const subs = [
      dht.on('dht.opDone', (e: DhtEmitted) => {
        if (e.type !== 'dht.opDone' || e.id !== id) return
        cleanup()
        resolve(e.result as DhtOpResults[K])
      }),
      dht.on('dht.opFailed', (e: DhtEmitted) => {
        if (e.type !== 'dht.opFailed' || e.id !== id) return
        cleanup()
        reject(reviveError(e.error))
      }),
      dht.on('dht.opRejected', (e: DhtEmitted) => {
        if (e.type !== 'dht.opRejected' || e.id !== id) return
        cleanup()
        if (e.reason === 'queueFull') reject(new DhtQueueFullError(e.message))
        else if (signal?.aborted && signal.reason instanceof Error) reject(signal.reason)
        else reject(new DhtOpCancelledError(e.message))
      }),
    ]
    function cleanup() {
      for (const sub of subs) sub.unsubscribe()
      signal?.removeEventListener('abort', onAbort)
    }
    const onAbort = () => dht.send({ type: 'dht.cancel', id })
    signal?.addEventListener('abort', onAbort, { once: true })
    const { kind, key, limit } = request
    dht.send({ type: 'dht.enqueue', op: { id, kind, key, ...(limit !== undefined ? { limit } : {}), enqueuedAt: Date.now() } })
  })
}

/** The DHT operations clients ask for, each through its node's queue: they wait until the DHT is ready. */
export class DhtQueue {
  constructor(private readonly actors: Pick<ActorLookup, 'dht'>) {}

  /** Enqueue `request` on node `alias`'s DHT actor; aborting `signal` cancels it. */
  run<K extends DhtOp['kind']>(alias: string, request: DhtOpRequest<K>, signal?: AbortSignal): Promise<DhtOpResults[K]> {
    const dht = this.actors.dht(alias)
    if (!dht) return Promise.reject(new NodeNotRunningError(alias))
    return enqueueDhtOp(dht, request, signal)
  }

  async provide(alias: string, cid: CID, signal?: AbortSignal): Promise<void> {
    await this.run(alias, { kind: 'provide', key: cid.toString() }, signal)
  }

  findProviders(alias: string, cid: CID, limit: number, signal?: AbortSignal): Promise<FoundPeer[]> {
    return this.run(alias, { kind: 'findProviders', key: cid.toString(), limit }, signal)
  }

  findPeer(alias: string, peerId: PeerId, signal?: AbortSignal): Promise<FoundPeer> {
    return this.run(alias, { kind: 'findPeer', key: peerId.toString() }, signal)
  }
}
