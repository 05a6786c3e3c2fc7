import { randomUUID } from 'node:crypto'
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { UnavailableError } from '../../errors.ts'
import type { ActorLookup, DhtRef } from '../../machines/actor-refs.ts'
import type { DhtEmitted, DhtOp } from '../../machines/dht/dht.types.ts'
import { NodeNotRunningError, type NodeRuntimes } from '../node/node-runtimes.ts'
import { dhtOps } from './dht-ops.ts'

export class DhtQueueFullError extends UnavailableError {
  override name = 'DhtQueueFullError'
}
export class DhtOpCancelledError extends UnavailableError {
  override name = 'DhtOpCancelledError'
}

/**
 * Enqueue one operation on a node's DHT actor and wait for its result. The work itself (`run`) is
 * kept here, outside the machine; the machine decides when it starts. Aborting `signal` cancels it.
 */
export function enqueueDhtOp<T>(
  runtimes: Pick<NodeRuntimes, 'get'>,
  dht: DhtRef,
  alias: string,
  op: { kind: DhtOp['kind']; key: string },
  run: (signal: AbortSignal) => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  const runtime = runtimes.get(alias)
  if (!runtime) return Promise.reject(new Error(`local node ${alias} is not running`))
  if (signal?.aborted)
    return Promise.reject(signal.reason instanceof Error ? signal.reason : new DhtOpCancelledError('DHT operation cancelled'))
  const id = randomUUID()
  return new Promise<T>((resolve, reject) => {
    const cleanup = () => {
      runtime.dhtPending.delete(id)
      sub.unsubscribe()
      signal?.removeEventListener('abort', onAbort)
    }
    const sub = dht.on('dht.opRejected', (e: DhtEmitted) => {
      if (e.type !== 'dht.opRejected' || e.id !== id) return
      cleanup()
      if (e.reason === 'queueFull') reject(new DhtQueueFullError(e.message))
      else if (signal?.aborted && signal.reason instanceof Error) reject(signal.reason)
      else reject(new DhtOpCancelledError(e.message))
    })
    const onAbort = () => dht.send({ type: 'dht.cancel', id })
    signal?.addEventListener('abort', onAbort, { once: true })
    runtime.dhtPending.set(id, {
      run,
      resolve: (v) => {
        cleanup()
        resolve(v as T)
      },
      reject: (err) => {
        cleanup()
        reject(err)
      },
    })
    if (dht.getSnapshot().status !== 'active') {
      cleanup()
      reject(new DhtOpCancelledError('DHT actor is stopped'))
      return
    }
    dht.send({ type: 'dht.enqueue', op: { id, kind: op.kind, key: op.key, enqueuedAt: Date.now() } })
  })
}

/** The DHT operations clients ask for, each through its node's queue: they wait until the DHT is ready. */
export class DhtQueue {
  constructor(
    private readonly runtimes: Pick<NodeRuntimes, 'get' | 'handle'>,
    private readonly actors: Pick<ActorLookup, 'dht'>,
  ) {}

  /** Run `work` when node `alias`'s DHT actor starts it; aborting `signal` cancels it. */
  run<T>(
    alias: string,
    op: { kind: DhtOp['kind']; key: string },
    work: (signal: AbortSignal) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    const dht = this.actors.dht(alias)
    if (!dht) return Promise.reject(new NodeNotRunningError(alias))
    return enqueueDhtOp(this.runtimes, dht, alias, op, work, signal)
  }

  provide(alias: string, cid: CID, signal?: AbortSignal): Promise<void> {
    return this.run(alias, { kind: 'provide', key: cid.toString() }, (s) => dhtOps.provide(this.#libp2p(alias), cid, s), signal)
  }

  findProviders(alias: string, cid: CID, limit: number, signal?: AbortSignal) {
    return this.run(
      alias,
      { kind: 'findProviders', key: cid.toString() },
      (s) => dhtOps.findProviders(this.#libp2p(alias), cid, limit, s),
      signal,
    )
  }

  findPeer(alias: string, peerId: PeerId, signal?: AbortSignal) {
    return this.run(alias, { kind: 'findPeer', key: peerId.toString() }, (s) => dhtOps.findPeer(this.#libp2p(alias), peerId, s), signal)
  }

  #libp2p(alias: string) {
    return this.runtimes.handle(alias).libp2p
  }
}
