import type { TSchema } from '@sinclair/typebox'
import type { AnyStateMachine } from 'xstate'
import { dhtMachine, dhtPublicContext } from './dht/dht.machine.ts'
import { DhtClientEventSchema } from './dht/dht.types.ts'
import { nodeMachine, nodePublicContext } from './node/node.machine.ts'
import { NodeClientEventSchema } from './node/node.types.ts'
import { supervisorMachine, supervisorPublicContext } from './supervisor/supervisor.machine.ts'
import { SupervisorClientEventSchema } from './supervisor/supervisor.types.ts'

export interface MachineKind {
  kind: string
  machine: AnyStateMachine
  description: string
  /** JSON-safe, secret-free view of a context; the only form a context leaves the process in. */
  project: (context: never) => unknown
  /** Events a client may send with `actors.send`; anything else is refused. */
  clientEvents: TSchema
}

/** Every kind of long-lived actor, in the order the tree nests them. */
export const machineKinds: MachineKind[] = [
  {
    kind: 'supervisor',
    machine: supervisorMachine,
    description:
      'The root of the actor tree. It starts and stops local nodes (peer-a at daemon start, a session peer per browser connection that asks), restarts a crashed node up to its restart limit, and on shutdown waits until every node has stopped.',
    project: supervisorPublicContext,
    clientEvents: SupervisorClientEventSchema,
  },
  {
    kind: 'node',
    machine: nodeMachine,
    description:
      'One local libp2p + Helia node. It builds the node and its stores while starting, spawns its DHT actor once running, and on stop rejects queued DHT operations before closing libp2p, Helia and the stores. A node that cannot start or crashes ends in failed with the reason.',
    project: nodePublicContext,
    clientEvents: NodeClientEventSchema,
  },
  {
    kind: 'dht',
    machine: dhtMachine,
    description:
      'The Kad-DHT of one node and its operation queue. Bootstrapping dials the bootstrap peers until the routing table holds a peer (ready, which is dhtReady) or the bootstrap timeout passes with an empty table (degraded; a newly connected peer retries). Operations enqueued before ready wait in order and drain with bounded concurrency; the queue is bounded and everything in it is rejected on stop.',
    project: dhtPublicContext,
    clientEvents: DhtClientEventSchema,
  },
]

export function kindOfSystemId(systemId: string): MachineKind | undefined {
  const kind = systemId.split(':', 1)[0]
  return machineKinds.find((k) => k.kind === kind)
}
