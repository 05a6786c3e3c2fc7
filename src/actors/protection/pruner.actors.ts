import { fromCallback, fromPromise } from 'xstate'
import type { PruneRound, PrunerEvent, PrunerInput } from '../../machines/pruner/pruner.types.ts'
import { NodeNotRunningError, type NodeRuntimes } from '../node/node-runtimes.ts'
import { ProtectionService } from './protection.extension.ts'

/** The node's protection service: the world the pruner actor acts on. */
function worldOf(runtimes: NodeRuntimes, alias: string): ProtectionService {
  const service = runtimes.get(alias)?.services?.protection
  if (!(service instanceof ProtectionService)) throw new NodeNotRunningError(alias)
  return service
}

/** The pruner machine's side effects, bound to the live runtimes. */
export function prunerActors(runtimes: NodeRuntimes) {
  return {
    watchConnections: fromCallback<PrunerEvent, { alias: string }>(({ input, sendBack }) => worldOf(runtimes, input.alias).watch(sendBack)),
    pruneRound: fromPromise<PruneRound, PrunerInput>(({ input }) => worldOf(runtimes, input.alias).round(input)),
  }
}
