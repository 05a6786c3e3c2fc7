import { Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { Actor, type InspectionEvent } from 'xstate'
import { systemIds } from '../../machines/actor-ids.ts'
import { machineKinds, kindOfSystemId } from '../../machines/catalog.ts'
import { check } from '../envelope.ts'
import { defineMethod } from '../method.ts'
import { notFound, RpcError } from '../rpc-error.ts'

/** The connection's inspection stream, kept with its actor subscriptions (ids of those start with 's'). */
const INSPECT_SUBSCRIPTION = 'inspect'

const Prefix = Type.Object({ prefix: Type.Optional(Type.String({ maxLength: 1024 })) })

/** The event types a kind accepts from clients, read off its schema. */
type EventSchemaLike = { anyOf?: EventSchemaLike[]; properties?: { type?: { const?: string } } }
export function clientEventTypes(schema: EventSchemaLike): string[] {
  // TypeBox collapses a one-member union to the member itself
  const members = schema.anyOf ?? [schema]
  return members.map((s) => s.properties?.type?.const).filter((t): t is string => typeof t === 'string')
}

const machineDefinitions = () =>
  machineKinds.map((k) => ({
    kind: k.kind,
    description: k.description,
    definition: JSON.parse(JSON.stringify(k.machine.definition)) as unknown,
    clientEvents: clientEventTypes(k.clientEvents as never),
  }))

/** A JSON-safe summary of an inspection event: ids, types and states, never contexts or payloads. */
function projectInspection(ev: InspectionEvent) {
  // inspection hands out the narrow ActorRefLike; the real actor (an `Actor`) carries its public systemId and id
  const id = (ref: unknown) => (ref instanceof Actor ? (ref.systemId ?? ref.id) : null)
  const base = { type: ev.type, actorId: id(ev.actorRef) }
  if (ev.type === '@xstate.event') return { ...base, sourceId: id(ev.sourceRef), event: { type: ev.event.type } }
  if (ev.type === '@xstate.snapshot') {
    const s = ev.snapshot as { value?: unknown; status?: string }
    return { ...base, event: { type: ev.event.type }, value: s.value ?? null, status: s.status ?? null }
  }
  if (ev.type === '@xstate.microstep') return { ...base, event: { type: ev.event.type } }
  return base
}

export const actorsMethods = [
  defineMethod({
    name: 'machines.list',
    params: Type.Object({}),
    handler: () => ({ machines: machineDefinitions() }),
  }),
  defineMethod({
    name: 'actors.list',
    params: Prefix,
    handler: ({ prefix }, { sb }) => ({ actors: sb.registry.list(prefix) }),
  }),
  defineMethod({
    name: 'actors.subscribe',
    params: Prefix,
    handler: ({ prefix = '' }, { sb, session }) => {
      const subscription = session.newSubscriptionId()
      const stop = sb.registry.listen((change) => {
        if (change.type === 'snapshot') {
          if (change.snapshot.systemId.startsWith(prefix)) session.push('actor.snapshot', { subscription, ...change.snapshot })
        } else if (change.systemId.startsWith(prefix)) {
          session.push('actor.stopped', { subscription, systemId: change.systemId, kind: change.kind, seq: change.seq })
        }
      })
      const dispose = session.onClose(stop)
      session.subscriptions.set(subscription, () => {
        stop()
        dispose()
      })
      return { subscription, actors: sb.registry.list(prefix) }
    },
  }),
  defineMethod({
    name: 'actors.unsubscribe',
    params: Type.Object({ subscription: Type.String({ maxLength: 64 }) }),
    handler: ({ subscription }, { session }) => {
      const stop = session.subscriptions.get(subscription)
      if (!stop) throw notFound(`unknown subscription ${JSON.stringify(subscription)}`)
      stop()
      session.subscriptions.delete(subscription)
      return null
    },
  }),
  defineMethod({
    name: 'actors.send',
    params: Type.Object({
      systemId: Type.String({ minLength: 1, maxLength: 2048 }),
      event: Type.Object({ type: Type.String({ minLength: 1, maxLength: 128 }) }),
    }),
    handler: ({ systemId, event }, { sb }) => {
      const ref = sb.registry.ref(systemId)
      const kind = kindOfSystemId(systemId)
      if (!ref || !kind) throw notFound(`unknown actor ${JSON.stringify(systemId)}`)
      if (!clientEventTypes(kind.clientEvents as never).includes(event.type)) {
        throw new RpcError(403, `event ${JSON.stringify(event.type)} is not a client event of ${kind.kind} actors`)
      }
      const valid = check(kind.clientEvents, Value.Clean(kind.clientEvents, structuredClone(event)), 'event') as {
        type: string
        alias?: string
      }
      // peer-a is the daemon itself: nothing could start it again short of a daemon restart
      const stopsPeerA =
        (systemId === systemIds.node('peer-a') && valid.type === 'node.stop') ||
        (valid.type === 'supervisor.stopNode' && valid.alias === 'peer-a')
      if (stopsPeerA) throw new RpcError(403, "peer-a is the daemon's own peer: stop the daemon (SIGTERM) instead")
      ref.send(valid as never)
      return { value: ref.getSnapshot().value }
    },
  }),
  defineMethod({
    name: 'inspect.subscribe',
    params: Type.Object({}),
    handler: (_, { sb, session }) => {
      // once per connection: a second call must not double every push
      if (session.subscriptions.has(INSPECT_SUBSCRIPTION)) return null
      const stop = sb.registry.onInspect((ev) => session.push('inspect.event', projectInspection(ev)))
      session.subscriptions.set(INSPECT_SUBSCRIPTION, stop)
      session.onClose(stop)
      return null
    },
  }),
]
