import { assign, emit, enqueueActions, fromCallback, fromPromise, setup } from 'xstate'
import type { Announcement, PresenceContext, PresenceEmitted, PresenceEvent, PresenceInput, Published } from './presence.types.ts'

/** A live announcement is re-published at half its lifetime, and at least this often (ms). */
export const MAX_REPUBLISH_MS = 60_000
/** Newcomers are greeted together after this pause, and again while our record has not reached them. */
export const GREET_DELAY_MS = 200
export const GREET_TRIES = 10

export function republishDelayMs(ttlSeconds: number): number {
  return Math.min(MAX_REPUBLISH_MS, (ttlSeconds * 1000) / 2)
}

/** Newcomers left to greet after a publish that reached `recipients`: the reached and the out of tries go. */
function greetAfter(greet: Record<string, number>, recipients: string[]): Record<string, number> {
  const reached = new Set(recipients)
  const left: Record<string, number> = {}
  for (const [peer, tries] of Object.entries(greet)) if (!reached.has(peer) && tries > 1) left[peer] = tries - 1
  return left
}

/**
 * Presence of one local node: silent until a client announces it; announcing publishes its signed
 * record on the presence topic (publishing), then waits (waiting) and re-publishes at half the
 * record's lifetime, sooner when a peer newly subscribes (greeting, after a short pause that
 * gathers newcomers). Keeping and checking the other peers' records is the `watch` actor's job; it
 * reports their number and the newcomers.
 */
export const presenceMachine = setup({
  types: {
    context: {} as PresenceContext,
    events: {} as PresenceEvent,
    input: {} as PresenceInput,
    emitted: {} as PresenceEmitted,
  },
  actors: {
    /** The presence topic: validates and keeps records, sends presence.online and presence.newcomer. */
    watch: fromCallback<PresenceEvent, { alias: string }>(() => () => {}),
    /** Sign and publish one record of the announcement. */
    publish: fromPromise<Published, { alias: string; announcement: Announcement }>(async () => {
      throw new Error('publish is not bound')
    }),
  },
  delays: {
    republish: ({ context }) => republishDelayMs(context.announcement?.ttlSeconds ?? 0),
    greetDelay: GREET_DELAY_MS,
  },
  guards: {
    hasNewcomers: ({ context }) => Object.keys(context.greet).length > 0,
  },
  actions: {
    announce: assign(({ context, event }) =>
      event.type === 'presence.announce'
        ? { announcement: { nickname: event.nickname, ttlSeconds: event.ttlSeconds }, waiting: [...context.waiting, event.id] }
        : {},
    ),
    addNewcomer: assign({
      greet: ({ context, event }) =>
        event.type === 'presence.newcomer' ? { ...context.greet, [event.peerId]: GREET_TRIES } : context.greet,
    }),
    countOnline: assign({ online: ({ context, event }) => (event.type === 'presence.online' ? event.count : context.online) }),
    /** Nobody waits for a publish that will not happen. */
    failWaiting: enqueueActions(({ context, enqueue }) => {
      if (context.waiting.length === 0) return
      enqueue.emit({ type: 'presence.publishFailed', ids: context.waiting, message: 'presence stopped' })
      enqueue.assign({ waiting: [] })
    }),
  },
}).createMachine({
  id: 'presence',
  context: ({ input }) => ({
    ...input,
    announcement: null,
    waiting: [],
    greet: {},
    published: 0,
    lastPublishedAt: null,
    lastError: null,
    online: 0,
  }),
  invoke: { src: 'watch', input: ({ context }) => ({ alias: context.alias }) },
  on: {
    'presence.online': { actions: 'countOnline' },
    'presence.stop': '.stopped',
  },
  initial: 'silent',
  states: {
    silent: {
      description: 'Nothing announced yet: other peers are listed, this node is not.',
      on: { 'presence.announce': { target: 'announcing', actions: 'announce' } },
    },
    announcing: {
      description: 'Announced: the record is published, and re-published before it expires.',
      initial: 'publishing',
      on: {
        'presence.announce': { target: '.publishing', actions: 'announce' },
        'presence.newcomer': { actions: 'addNewcomer' },
      },
      states: {
        publishing: {
          description: 'Signing and publishing one record; the announce requests waiting for it are answered when it is out.',
          invoke: {
            src: 'publish',
            input: ({ context }) => ({ alias: context.alias, announcement: context.announcement ?? { nickname: '', ttlSeconds: 0 } }),
            onDone: {
              target: 'waiting',
              actions: [
                emit(({ context, event }) => ({ type: 'presence.published' as const, ids: context.waiting, record: event.output.record })),
                assign(({ context, event }) => ({
                  waiting: [],
                  greet: greetAfter(context.greet, event.output.recipients),
                  published: context.published + 1,
                  lastPublishedAt: event.output.record.createdAt,
                  lastError: null,
                })),
              ],
            },
            onError: {
              // tried again at the republish pace
              target: 'waiting',
              actions: [
                emit(({ context, event }) => ({
                  type: 'presence.publishFailed' as const,
                  ids: context.waiting,
                  message: event.error instanceof Error ? event.error.message : String(event.error),
                })),
                assign(({ context, event }) => ({
                  waiting: [],
                  greet: greetAfter(context.greet, []),
                  lastError: event.error instanceof Error ? event.error.message : String(event.error),
                })),
              ],
            },
          },
        },
        waiting: {
          description: 'Published; the next publish comes at half the record lifetime (at most a minute), or sooner for newcomers.',
          initial: 'quiet',
          after: { republish: 'publishing' },
          on: { 'presence.republish': 'publishing' },
          states: {
            quiet: {
              description: 'No newcomer waits for our record.',
              always: { guard: 'hasNewcomers', target: 'greeting' },
            },
            greeting: {
              description: 'Peers newly subscribed to the presence topic: one publish after a short pause greets them all.',
              after: { greetDelay: '#presence.announcing.publishing' },
            },
          },
        },
      },
    },
    stopped: {
      description: 'Stopped with its node; an announce still waiting is refused.',
      type: 'final',
      entry: 'failWaiting',
    },
  },
})

/** Client-facing view of the context: JSON-safe, no refs. */
export function presencePublicContext(context: PresenceContext) {
  return {
    alias: context.alias,
    nickname: context.announcement?.nickname ?? null,
    ttlSeconds: context.announcement?.ttlSeconds ?? null,
    published: context.published,
    lastPublishedAt: context.lastPublishedAt,
    greeting: Object.keys(context.greet).length,
    online: context.online,
    lastError: context.lastError,
  }
}
