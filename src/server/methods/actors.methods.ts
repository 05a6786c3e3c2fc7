import { Type } from '@sinclair/typebox'
import { Actor, type InspectionEvent } from 'xstate'
import { clientEventTypes } from '../../actors/supervisor/actor-control.ts'
import { machineKinds } from '../../machines/catalog.ts'
import { machineDefinition } from '../../machines/definition.ts'
import { defineMethod } from '../method.ts'
import { notFound } from '../rpc-error.ts'

/** The connection's inspection stream, kept with its actor subscriptions (ids of those start with 's'). */
const INSPECT_SUBSCRIPTION = 'inspect'

const Prefix = Type.Object({ prefix: Type.Optional(Type.String({ maxLength: 1024 })) })

/** Per kind: a definition `createMachine` accepts (src/machines/definition.ts) and the events a client may send. */
const machineDefinitions = () =>
  machineKinds.map((k) => ({
    kind: k.kind,
    description: k.description,
    definition: machineDefinition(k.machine),
    clientEvents: clientEventTypes(k.clientEvents as never),
    // the TypeBox schema is JSON Schema already
    clientEventSchema: JSON.parse(JSON.stringify(k.clientEvents)) as unknown,
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
    handler: ({ prefix }, { actors }) => ({ actors: actors.registry.list(prefix) }),
  }),
  defineMethod({
    name: 'actors.subscribe',
    params: Prefix,
    handler: ({ prefix = '' }, { actors, session }) => {
      const subscription = session.newSubscriptionId()
      const stop = actors.registry.listen((change) => {
        if (change.type === 'snapshot') {
          if (change.snapshot.systemId.startsWith(prefix)) session.push('actor.snapshot', { subscription, ...change.snapshot })
        } else if (change.systemId.startsWith(prefix)) {
          session.push('actor.stopped', { subscription, systemId: change.systemId, kind: change.kind, seq: change.seq })
        }
      }, prefix)
      const dispose = session.onClose(stop)
      session.subscriptions.set(subscription, () => {
        stop()
        dispose()
      })
      return { subscription, actors: actors.registry.list(prefix) }
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
    handler: ({ systemId, event }, { actors }) => actors.control.send(systemId, event),
  }),
  defineMethod({
    name: 'inspect.subscribe',
    params: Type.Object({}),
    handler: (_, { actors, session }) => {
      // once per connection: a second call must not double every push
      if (session.subscriptions.has(INSPECT_SUBSCRIPTION)) return null
      const stop = actors.registry.onInspect((ev) => session.push('inspect.event', projectInspection(ev)))
      session.subscriptions.set(INSPECT_SUBSCRIPTION, stop)
      session.onClose(stop)
      return null
    },
  }),
]
