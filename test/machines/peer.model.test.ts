import { describe, expect, it } from 'vitest'
import { type AnyActor, type AnyMachineSnapshot, createActor, type EventObject } from 'xstate'
import { peerMachine } from '../../src/machines/peer/peer.machine.ts'
import type { ConnectionType, PeerContext, PeerEvent, PeerInput } from '../../src/machines/peer/peer.types.ts'
import { invokeId as invokeIdOf } from '../support/model.ts'
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
const LOCAL_HIGHER = '12D3KooWZzLocalNode'

const invokeId = (state: 'connecting' | 'disconnecting') => peerMachine.root.states[state]?.invoke[0]?.id ?? ''
const dialId = invokeId('connecting')
const hangUpId = invokeId('disconnecting')
const DIAL_DONE = `xstate.done.actor.${dialId}`
const DIAL_ERROR = `xstate.error.actor.${dialId}`
const HANGUP_DONE = `xstate.done.actor.${hangUpId}`
const HANGUP_ERROR = `xstate.error.actor.${hangUpId}`
const syncId = invokeIdOf(peerMachine, 'sync')

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
  // what tells states apart: wanted or not, held, the tries left, failures in a row (0, 1, more), a sync owed
  key: (snapshot: AnyMachineSnapshot) => {
    const c = snapshot.context as PeerContext
    return JSON.stringify([
      snapshot.value,
      c.known,
      c.autoConnect,
      c.added,
      c.held,
      c.triesLeft,
      // a first failure and a later one back off differently (dials and syncs alike)
      Math.min(c.failures, 2),
      Math.min(c.syncFailures, 2),
      // a sync owed matters only while connected (arriving sets it afresh)
      snapshot.matches('connected') && c.syncDue,
    ])
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
            // another connection arrives while one is open
            { type: 'peer.connected', connectionType: 'webrtc', at: 8 },
            { type: 'peer.connectionType', connectionType: 'direct' },
          ]
        : []),
      ...(snapshot.matches('connected') ? [{ type: 'peer.filesChanged' }] : []),
      // another peer of the node came back from being unreachable (the network is back): any time
      { type: 'peer.networkBack' },
      // ... heard by this node too, whose id is the higher of the pair: the peer dials first
      { type: 'peer.networkBack', localPeerId: LOCAL_HIGHER },
      // outputs and errors only for the graph: on the real actor the world settles its own calls
      ...(live.includes(dialId)
        ? [
            { type: DIAL_DONE, output: { connectionType: 'direct', at: 7 } },
            { type: DIAL_ERROR, error: refused },
          ]
        : []),
      ...(live.includes(hangUpId) ? [{ type: HANGUP_DONE }, { type: HANGUP_ERROR, error: hangUpFailed }] : []),
      // the sync of a known peer reports while it runs
      ...(live.includes(syncId)
        ? [
            { type: 'peer.syncProgress', progress: { blocksFetched: 1, blocksTotal: 2, bytes: 100 } },
            { type: 'peer.syncDone', at: 9 },
            { type: 'peer.syncFailed', error: 'peer went quiet' },
          ]
        : []),
      ...timers.map((type) => ({ type })),
    ]
  },
}

/** Make the world produce `event` and deliver it the way the daemon would; the world keeps its own account of it. */
function perform(world: PeerWorld, actor: AnyActor, event: EventObject): void {
  const intent = world.intent(PEER)
  const only = <T>(list: T[], what: string): T => {
    if (list.length !== 1) throw new Error(`${list.length} ${what} in flight`)
    return list[0] as T
  }
  const hangingUp = world.hangUpsOf(PEER).length > 0
  const linked = world.connectionsTo(PEER).length > 0
  const wanted = !world.held && (intent.added || (intent.known && intent.autoConnect))
  /** The peer is connected (libp2p's event or our dial): what a connection means for the account. */
  const arrive = (type: ConnectionType, at: number) => {
    // a known peer arriving has files to sync; one already connected is not arriving
    if (intent.known && (!linked || world.leftOpen)) world.syncOwed = true
    world.lastType = type
    world.since = at
    world.failures = 0
    if (!linked || world.leftOpen) world.syncFailures = 0
    world.lastError = null
    world.connectPending = false
    world.triesLeft = 0
    world.leftOpen = false
  }
  switch (event.type) {
    case DIAL_DONE:
      arrive('direct', world.clock.now)
      only(world.dialsTo(PEER), 'dials').resolve()
      return
    case DIAL_ERROR:
      world.failures++
      world.lastError = refused.message
      if (world.connectPending && --world.triesLeft <= 0) world.connectPending = false
      only(world.dialsTo(PEER), 'dials').reject(refused)
      return
    case HANGUP_DONE:
      world.leftOpen = false
      only(world.hangUpsOf(PEER), 'hang-ups').resolve()
      return
    case HANGUP_ERROR:
      world.lastError = hangUpFailed.message
      world.leftOpen = linked
      only(world.hangUpsOf(PEER), 'hang-ups').reject(hangUpFailed)
      return
    case 'peer.connected': {
      const e = event as Extract<PeerEvent, { type: 'peer.connected' }>
      // a connection that comes while the client hangs up is hung up with the rest
      if (!hangingUp) arrive(e.connectionType, e.at)
      world.open(PEER, e.connectionType)
      break
    }
    case 'peer.disconnected':
      world.since = (event as Extract<PeerEvent, { type: 'peer.disconnected' }>).at
      // a wanted peer's lost connection is its first failure; a hang-up's is not a failure
      if (!hangingUp && wanted) world.failures = 1
      world.leftOpen = false
      world.closeAll(PEER)
      break
    case 'peer.connectionType':
      world.lastType = 'direct'
      world.open(PEER, 'direct')
      break
    case 'peer.connect':
      // connected already: nothing to do; otherwise its tries start (behind a hang-up in flight)
      if (!linked || hangingUp || world.leftOpen) {
        world.connectPending = true
        world.triesLeft = backoff.explicitTries
        world.held = false
      }
      break
    case 'peer.disconnect': {
      // a hang-up that stops something (a connection, a dial, a pending retry, a connect asked for
      // while hanging up) holds the peer until the client's next connect, and drops that connect
      const stops =
        world.dialsTo(PEER).length + world.clock.armed().length + (world.leftOpen ? 0 : world.connectionsTo(PEER).length) > 0 ||
        (hangingUp && world.connectPending)
      if (stops) {
        world.held = true
        world.connectPending = false
        world.triesLeft = 0
      }
      break
    }
    case 'peer.update': {
      const e = event as Extract<PeerEvent, { type: 'peer.update' }>
      // a peer that becomes known while connected has files to sync
      if (e.known === true && !intent.known && linked) world.syncOwed = true
      if (e.known !== undefined) intent.known = e.known
      if (e.autoConnect !== undefined) intent.autoConnect = e.autoConnect
      break
    }
    case 'peer.setAdded':
      intent.added = (event as PeerEvent & { type: 'peer.setAdded' }).added
      break
    case 'peer.filesChanged':
      world.syncOwed = true
      break
    case 'peer.networkBack':
      // a peer waiting in backoff retries now: its timer is dropped and a dial starts, or a short wait
      // for the peer's own dial is armed (the machine does it)
      break
    case 'peer.syncProgress':
      world.syncProgress = (event as Extract<PeerEvent, { type: 'peer.syncProgress' }>).progress
      only(world.syncsOf(PEER), 'syncs').report(event as PeerEvent)
      return
    case 'peer.syncDone':
      world.lastSyncAt = (event as Extract<PeerEvent, { type: 'peer.syncDone' }>).at
      world.lastError = null
      world.syncFailures = 0
      world.syncProgress = null
      only(world.syncsOf(PEER), 'syncs').report(event as PeerEvent)
      return
    case 'peer.syncFailed':
      world.lastError = `sync: ${(event as Extract<PeerEvent, { type: 'peer.syncFailed' }>).error}`
      world.syncProgress = null
      // what the failed sync was to fetch is still owed
      world.syncOwed = true
      world.syncFailures += 1
      only(world.syncsOf(PEER), 'syncs').report(event as PeerEvent)
      return
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
  actor.start()
  try {
    check('initial state')
    for (const [i, event] of events.entries()) {
      const writes = world.store.writes.length
      const dials = world.dials.length
      const armedBefore = world.clock.armed().length
      const inBackoff = actor.getSnapshot().matches('backoff')
      const timer = event.type.startsWith('xstate.after.') ? world.clock.armed()[0] : undefined
      // the pause before a failed sync's retry, not a dial's
      const syncTimer = timer !== undefined && actor.getSnapshot().matches({ connected: 'syncBackoff' })
      const syncsBefore = world.syncs.length
      await processed.after(actor, event.type, () => perform(world, actor, event))
      check(`step ${i + 1} (${event.type})`)
      const pacing = dialPacing(event.type, world.dials.length - dials, syncTimer ? undefined : timer?.delay)
      if (pacing) throw new Error(`step ${i + 1} (${event.type}) of ${where}: ${pacing}`)
      if (syncTimer && (world.syncs.length - syncsBefore !== 1 || world.dials.length !== dials))
        throw new Error(
          `step ${i + 1} (${event.type}) of ${where}: the sync backoff ran out and ${world.syncs.length - syncsBefore} syncs started`,
        )
      if (world.held && world.dials.length > dials)
        throw new Error(`step ${i + 1} (${event.type}) of ${where}: dialled a peer the client disconnected`)
      // a pause that runs (an explicit retry's, a backoff) is cut short only by a client's connect, and
      // a backoff also by the news that the network is back
      const cutShort = event.type === 'peer.connect' || (event.type === 'peer.networkBack' && inBackoff)
      if (armedBefore > 0 && !timer && !cutShort && world.dials.length > dials)
        throw new Error(`step ${i + 1} (${event.type}) of ${where}: a dial started before the pause was over`)
      // every change of what is remembered is written once (a finished sync's time too), and nothing else writes
      const expected = event.type === 'peer.update' || event.type === 'peer.syncDone' ? 1 : 0
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
