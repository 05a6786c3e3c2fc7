import { fromCallback, fromPromise } from 'xstate'
import type { Announcement, PresenceEvent, Published } from '../../machines/presence/presence.types.ts'
import { NodeNotRunningError, type NodeRuntimes } from '../node/node-runtimes.ts'
import { PresenceService } from './presence.extension.ts'

/** The node's presence service: the world the presence actor acts on. */
function worldOf(runtimes: NodeRuntimes, alias: string): PresenceService {
  const service = runtimes.get(alias)?.services?.presence
  if (!(service instanceof PresenceService)) throw new NodeNotRunningError(alias)
  return service
}

/** The presence machine's side effects, bound to the live runtimes. */
export function presenceActors(runtimes: NodeRuntimes) {
  return {
    watch: fromCallback<PresenceEvent, { alias: string }>(({ input, sendBack }) => worldOf(runtimes, input.alias).watch(sendBack)),
    publish: fromPromise<Published, { alias: string; announcement: Announcement }>(({ input }) =>
      worldOf(runtimes, input.alias).publish(input.announcement),
    ),
  }
}
