import { readdirSync } from 'node:fs'
import type { ActorSnapshot } from '../../src/actors/supervisor/actor-registry.ts'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'

/** What a churn of browser sessions needs from a daemon: a way to open an authorised socket. */
export interface ChurnTarget {
  client(): Promise<SwitchboardClient>
}

export interface ChurnOptions {
  /** Stop after this many sessions... */
  sessions?: number
  /** ...or at this time (ms since the epoch), whichever comes first. */
  until?: number
  /** Tabs open at once. */
  concurrency?: number
}

/**
 * Open a socket, call `peer` (a session peer with its own libp2p node), close it; `concurrency` tabs
 * at a time, as browsers open and close them. Returns how many sessions ran.
 */
export async function churnSessions(target: ChurnTarget, opts: ChurnOptions): Promise<number> {
  const sessions = opts.sessions ?? Number.POSITIVE_INFINITY
  const until = opts.until ?? Number.POSITIVE_INFINITY
  let opened = 0
  const tab = async () => {
    while (opened < sessions && Date.now() < until) {
      opened++
      const c = await target.client()
      const { peerid } = await c.call<{ peerid: string }>('peer', {})
      if (!/^12D3KooW/.test(peerid)) throw new Error(`peer answered ${JSON.stringify(peerid)}`)
      await c.close()
    }
  }
  await Promise.all(Array.from({ length: opts.concurrency ?? 4 }, tab))
  return opened
}

/** The actors a daemon has now, except peer-a's peer shards (at most 64, spawned on first use and kept). */
export async function actorIds(observer: SwitchboardClient): Promise<string[]> {
  const { actors } = await observer.call<{ actors: ActorSnapshot[] }>('actors.list', {})
  return actors
    .map((a) => a.systemId)
    .filter((id) => !id.startsWith('peers:peer-a:'))
    .sort()
}

export const openFds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length
