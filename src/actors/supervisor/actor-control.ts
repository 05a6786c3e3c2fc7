import { Value } from '@sinclair/typebox/value'
import { ForbiddenError, ResourceNotFoundError } from '../../errors.ts'
import { systemIds } from '../../machines/actor-ids.ts'
import { kindOfSystemId } from '../../machines/catalog.ts'
import { InvalidInputError } from '../../p2p/validate.ts'
import type { ActorRegistry } from './actor-registry.ts'

/** The event types a kind accepts from clients, read off its schema. */
type EventSchemaLike = { anyOf?: EventSchemaLike[]; properties?: { type?: { const?: string } } }
export function clientEventTypes(schema: EventSchemaLike): string[] {
  // TypeBox collapses a one-member union to the member itself
  const members = schema.anyOf ?? [schema]
  return members.map((s) => s.properties?.type?.const).filter((t): t is string => typeof t === 'string')
}

/** `actors.send`: which events a client may send to which actor. */
export class ActorControl {
  constructor(private readonly registry: Pick<ActorRegistry, 'ref'>) {}

  /**
   * Deliver a client event: only the event types of the actor's kind, validated against their
   * schema (extra keys dropped), and never one that stops peer-a. Returns the state after it.
   */
  send(systemId: string, event: { type: string }): { value: unknown } {
    const ref = this.registry.ref(systemId)
    const kind = kindOfSystemId(systemId)
    if (!ref || !kind) throw new ResourceNotFoundError(`unknown actor ${JSON.stringify(systemId)}`)
    if (!clientEventTypes(kind.clientEvents as never).includes(event.type)) {
      throw new ForbiddenError(`event ${JSON.stringify(event.type)} is not a client event of ${kind.kind} actors`)
    }
    const cleaned = Value.Clean(kind.clientEvents, structuredClone(event))
    if (!Value.Check(kind.clientEvents, cleaned)) {
      const first = Value.Errors(kind.clientEvents, cleaned).First()
      throw new InvalidInputError(`event${first?.path.replace(/\//g, '.') ?? ''}`, first?.message ?? 'invalid')
    }
    const valid = cleaned as { type: string; alias?: string }
    // peer-a is the daemon itself: nothing could start it again short of a daemon restart
    const stopsPeerA =
      (systemId === systemIds.node('peer-a') && valid.type === 'node.stop') ||
      (valid.type === 'supervisor.stopNode' && valid.alias === 'peer-a')
    if (stopsPeerA) throw new ForbiddenError("peer-a is the daemon's own peer: stop the daemon (SIGTERM) instead")
    ref.send(valid as never)
    return { value: ref.getSnapshot().value }
  }
}
