import { describe, expect, it } from 'vitest'
import { type AnyActor, type AnyMachineSnapshot, createActor, type EventObject } from 'xstate'
import { peerMachine } from '../../src/machines/peer/peer.machine.ts'
import type { PeerContext, PeerEvent, PeerInput } from '../../src/machines/peer/peer.types.ts'
import {
  Coverage,
  describeEvents,
  generatePaths,
  inspectAll,
  type PathSpec,
  PeerWorld,
  Processed,
  peerInvariants,
} from '../support/peer-world.ts'

/*
 * The peer machine against a fake world: paths come from the machine (xstate/graph), a real actor
 * with the daemon's persist binding and the world's dial and hang-up follows each, and after every
 * step the world is checked against what the state means (peerInvariants), never against a replay
 * of the machine.
 */

const PEER = '12D3KooWModelPeer'
// two explicit tries keep the tries counter small enough to enumerate and still pass through `retrying`
const backoff = { initialMs: 100, maxMs: 400, explicitRetryMs: 50, explicitTries: 2 }
const input: PeerInput = { alias: 'm', peerId: PEER, backoff }

const invokeId = (state: 'connecting' | 'disconnecting') => peerMachine.root.states[state]?.invoke[0]?.id ?? ''
const dialId = invokeId('connecting')
const hangUpId = invokeId('disconnecting')
const DIAL_DONE = `xstate.done.actor.${dialId}`
const DIAL_ERROR = `xstate.error.actor.${dialId}`
const HANGUP_DONE = `xstate.done.actor.${hangUpId}`
const HANGUP_ERROR = `xstate.error.actor.${hangUpId}`

const refused = new Error('connect ECONNREFUSED 127.0.0.1:4001')
const hangUpFailed = new Error('hang up failed')

const clientEvents: PeerEvent[] = [
  { type: 'peer.connect' },
  { type: 'peer.disconnect' },
  { type: 'peer.update', known: true },
  { type: 'peer.update', known: false },
  { type: 'peer.update', autoConnect: true },
  { type: 'peer.update', autoConnect: false },
  { type: 'peer.setAdded', added: true },
  { type: 'peer.setAdded', added: false },
]

const spec: PathSpec = {
  machine: peerMachine,
  input,
  // what tells states apart for the invariants: wanted or not, held, the tries left, an error kept
  key: (snapshot: AnyMachineSnapshot) => {
    const c = snapshot.context as PeerContext
    return JSON.stringify([snapshot.value, c.known, c.autoConnect, c.added, c.held, c.triesLeft, c.failures > 0, c.lastError !== null])
  },
  // what the world can do in each state: the client at any time, libp2p's connection events where
  // a connection can exist, a dial or hang-up settling while one runs, an armed timer firing
  events: (snapshot, live, timers) => {
    const linked = snapshot.matches('connected') || snapshot.matches('disconnecting')
    return [
      ...clientEvents,
      { type: 'peer.connected', connectionType: 'relay', at: 5 },
      ...(linked
        ? [
            { type: 'peer.disconnected', at: 6 },
            { type: 'peer.connectionType', connectionType: 'direct' },
          ]
        : []),
      ...(snapshot.matches('connected') ? [{ type: 'peer.filesChanged' }] : []),
      // outputs and errors only for the graph: on the real actor the world settles its own calls
      ...(live.includes(dialId)
        ? [
            { type: DIAL_DONE, output: { connectionType: 'direct', at: 7 } },
            { type: DIAL_ERROR, error: refused },
          ]
        : []),
      ...(live.includes(hangUpId) ? [{ type: HANGUP_DONE }, { type: HANGUP_ERROR, error: hangUpFailed }] : []),
      ...timers.map((type) => ({ type })),
    ]
  },
}

/** Make the world produce `event` and deliver it the way the daemon would. */
function perform(world: PeerWorld, actor: AnyActor, event: EventObject): void {
  const intent = world.intent(PEER)
  const only = <T>(list: T[], what: string): T => {
    if (list.length !== 1) throw new Error(`${list.length} ${what} in flight`)
    return list[0] as T
  }
  switch (event.type) {
    case DIAL_DONE:
      only(world.dialsTo(PEER), 'dials').resolve()
      return
    case DIAL_ERROR:
      only(world.dialsTo(PEER), 'dials').reject(refused)
      return
    case HANGUP_DONE:
      only(world.hangUpsOf(PEER), 'hang-ups').resolve()
      return
    case HANGUP_ERROR:
      only(world.hangUpsOf(PEER), 'hang-ups').reject(hangUpFailed)
      return
    case 'peer.connected':
      world.open(PEER, (event as PeerEvent & { type: 'peer.connected' }).connectionType)
      break
    case 'peer.disconnected':
      world.closeAll(PEER)
      break
    case 'peer.connectionType':
      world.open(PEER, 'direct')
      break
    case 'peer.update': {
      const e = event as Extract<PeerEvent, { type: 'peer.update' }>
      if (e.known !== undefined) intent.known = e.known
      if (e.autoConnect !== undefined) intent.autoConnect = e.autoConnect
      break
    }
    case 'peer.setAdded':
      intent.added = (event as PeerEvent & { type: 'peer.setAdded' }).added
      break
  }
  if (event.type.startsWith('xstate.after.')) {
    world.clock.fireNext()
    return
  }
  actor.send(event)
}

/**
 * When dials may start, from the world's side: never at once after a dial failed or a connection
 * dropped (an explicit connect's tries are a fixed pause apart, a wanted peer backs off), and always
 * when the pause of a retry or a backoff is over.
 */
function dialPacing(type: string, started: number, timerDelay: number | undefined): string | undefined {
  if ((type === DIAL_ERROR || type === 'peer.disconnected') && started > 0) return `${started} dial(s) started at once, without a pause`
  if (timerDelay !== undefined && started !== 1) return `the ${timerDelay} ms timer fired and ${started} dials started (want 1)`
  return undefined
}

const coverage = new Coverage(peerMachine)

async function drive(events: EventObject[]): Promise<void> {
  const world = new PeerWorld('m')
  const processed = new Processed()
  const actor = createActor(world.peerMachine(), { input, clock: world.clock, inspect: inspectAll(processed.inspect, coverage.inspect) })
  const where = describeEvents(events)
  const check = (at: string) => {
    const violations = peerInvariants(world, actor.getSnapshot(), backoff)
    if (violations.length > 0) {
      throw new Error(`${at} of ${where}: in ${JSON.stringify(actor.getSnapshot().value)}, ${violations.join('; ')}`)
    }
  }
  let held = false
  actor.start()
  try {
    check('initial state')
    for (const [i, event] of events.entries()) {
      const writes = world.store.writes.length
      const dials = world.dials.length
      // a client's disconnect that stops something (a connection, a dial, a pending retry) holds the
      // peer until the client's next connect; the world keeps that from the requests it made
      if (event.type === 'peer.disconnect') {
        const stops = world.dialsTo(PEER).length + world.clock.armed().length + world.connectionsTo(PEER).length > 0
        if (stops) held = true
      }
      if (event.type === 'peer.connect') held = false
      const timer = event.type.startsWith('xstate.after.') ? world.clock.armed()[0] : undefined
      await processed.after(actor, event.type, () => perform(world, actor, event))
      check(`step ${i + 1} (${event.type})`)
      const pacing = dialPacing(event.type, world.dials.length - dials, timer?.delay)
      if (pacing) throw new Error(`step ${i + 1} (${event.type}) of ${where}: ${pacing}`)
      if (held && world.dials.length > dials)
        throw new Error(`step ${i + 1} (${event.type}) of ${where}: dialled a peer the client disconnected`)
      // every change of what is remembered is written once, and nothing else writes
      const expected = event.type === 'peer.update' ? 1 : 0
      if (world.store.writes.length - writes !== expected) {
        throw new Error(
          `step ${i + 1} (${event.type}) of ${where}: ${world.store.writes.length - writes} known-peers writes, expected ${expected}`,
        )
      }
    }
  } finally {
    actor.stop()
  }
}

describe('peer machine, model-based against a fake world', () => {
  const paths = generatePaths(spec)

  // in slices, so one slow machine never runs a single test into its timeout
  const SLICE = 250
  for (let from = 0; from < paths.length; from += SLICE) {
    const slice = paths.slice(from, from + SLICE)
    it(`a real actor keeps the world consistent with its state along generated paths ${from + 1}-${from + slice.length} of ${paths.length}`, async () => {
      for (const path of slice) await drive(path)
    })
  }

  it('the paths took every transition (always included) and reached every state of the real actor', () => {
    expect(paths.length).toBeGreaterThan(0)
    const never = { states: coverage.missingStates(), transitions: coverage.missingTransitions() }
    expect(never, 'states never reached and transitions never taken by the real actors').toEqual({ states: [], transitions: [] })
  })
})
