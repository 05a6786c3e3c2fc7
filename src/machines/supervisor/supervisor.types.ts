import { type Static, Type } from '@sinclair/typebox'
import type { NodeInput } from '../node/node.types.ts'

export const SupervisorClientEventSchema = Type.Union([
  Type.Object({ type: Type.Literal('supervisor.stopNode'), alias: Type.String({ minLength: 1, maxLength: 64 }) }),
])
export type SupervisorClientEvent = Static<typeof SupervisorClientEventSchema>

export interface SupervisorInput {
  /** How many times a crashed node is restarted before it is left failed. */
  restartLimit: number
}

export interface ChildRecord {
  input: NodeInput
  restarts: number
  status: 'running' | 'stopped' | 'failed'
  error?: string
}

export interface SupervisorContext extends SupervisorInput {
  nodes: Record<string, ChildRecord>
}

export type SupervisorEvent =
  | SupervisorClientEvent
  | { type: 'supervisor.startNode'; node: NodeInput }
  /** `started`: the node had reached running; only such a node is restarted after a crash. */
  | { type: 'supervisor.nodeStopped'; alias: string; error?: string; started?: boolean }
  | { type: 'supervisor.shutdown' }
