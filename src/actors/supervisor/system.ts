import { createActor, sendParent, type ActorRefFrom } from 'xstate'
import { dhtMachine } from '../../machines/dht/dht.machine.ts'
import { nodeMachine } from '../../machines/node/node.machine.ts'
import { supervisorMachine } from '../../machines/supervisor/supervisor.machine.ts'
import type { SupervisorEvent } from '../../machines/supervisor/supervisor.types.ts'
import { dhtActors } from '../dht/dht.actors.ts'
import { nodeActors } from '../node/node.actors.ts'
import type { NodeRuntimes } from '../node/node-runtimes.ts'
import { ActorRegistry } from './actor-registry.ts'

/** The machines with their real side effects bound: the one place where pure meets I/O. */
export function bindMachines(runtimes: NodeRuntimes) {
  const dht = dhtMachine.provide({ actors: dhtActors(runtimes) })
  const node = nodeMachine.provide({
    actors: { ...nodeActors(runtimes), dht },
    actions: {
      reportStopped: sendParent(
        (_, params: { alias: string; error?: string }): SupervisorEvent => ({
          type: 'supervisor.nodeStopped',
          alias: params.alias,
          ...(params.error !== undefined ? { error: params.error } : {}),
        }),
      ),
    },
  })
  return supervisorMachine.provide({ actors: { node } })
}

export type SupervisorRef = ActorRefFrom<typeof supervisorMachine>

/** Start the actor system: the supervisor at its root, every actor visible through the registry. */
export function startSystem(runtimes: NodeRuntimes, opts: { restartLimit?: number } = {}) {
  const registry = new ActorRegistry()
  const supervisor = createActor(bindMachines(runtimes), {
    systemId: 'supervisor',
    input: { restartLimit: opts.restartLimit ?? 3 },
    inspect: registry.inspect,
  })
  supervisor.start()
  return { supervisor: supervisor as unknown as SupervisorRef, registry }
}
