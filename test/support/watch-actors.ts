import type { ActorSnapshot } from '../../src/actors/supervisor/actor-registry.ts'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'

type SnapshotPush = ActorSnapshot & { subscription: string }

export interface ActorWatch {
  subscription: string
  /** The snapshots of the initial `actors.subscribe` answer. */
  initial: ActorSnapshot[]
  /** Every snapshot of `systemId` seen so far, initial one first, in arrival order. */
  history(systemId: string): ActorSnapshot[]
  latest(systemId: string): ActorSnapshot | undefined
  /** The first snapshot of `systemId` (the latest one seen, or a later push) that satisfies `predicate`. */
  until(systemId: string, predicate: (s: ActorSnapshot) => boolean, timeoutMs?: number): Promise<ActorSnapshot>
  stop(): void
}

/**
 * `actors.subscribe` with the initial list and the pushes merged into one history per actor, so a
 * test can wait for a state whether it was reached before or after it subscribed.
 */
export async function watchActors(client: SwitchboardClient, prefix = ''): Promise<ActorWatch> {
  const early: SnapshotPush[] = []
  const histories = new Map<string, ActorSnapshot[]>()
  const waiters = new Set<() => void>()
  let subscription: string | undefined
  const record = (s: ActorSnapshot) => {
    const list = histories.get(s.systemId) ?? []
    list.push(s)
    histories.set(s.systemId, list)
    for (const w of waiters) w()
  }
  const off = client.on<SnapshotPush>('actor.snapshot', (push) => {
    if (subscription === undefined) early.push(push)
    else if (push.subscription === subscription) record(push)
  })
  const answer = await client.call<{
    subscription: string
    actors: ActorSnapshot[]
  }>('actors.subscribe', { prefix })
  subscription = answer.subscription
  for (const s of answer.actors) record(s)
  // pushes that overtook the answer: keep only those newer than the initial view
  for (const push of early) {
    if (push.subscription !== subscription) continue
    const last = histories.get(push.systemId)?.at(-1)
    if (!last || push.seq > last.seq) record(push)
  }
  const latest = (id: string) => histories.get(id)?.at(-1)
  return {
    subscription,
    initial: answer.actors,
    history: (id) => [...(histories.get(id) ?? [])],
    latest,
    until(id, predicate, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const s = latest(id)
          if (s && predicate(s)) {
            waiters.delete(check)
            clearTimeout(timer)
            resolve(s)
          }
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`${id} did not reach the expected state within ${timeoutMs} ms; last: ${JSON.stringify(latest(id))}`))
        }, timeoutMs)
        waiters.add(check)
        check()
      })
    },
    stop: () => off(),
  }
}
