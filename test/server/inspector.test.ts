import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { privateKeyFromRaw } from '@libp2p/crypto/keys'
import { type StatelyInspectionEvent, createWebSocketReceiver } from '@statelyai/inspect'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { assign, createActor, createMachine, setup } from 'xstate'
import { WebSocket } from 'ws'
import { type ActorSnapshot, ActorRegistry } from '../../src/actors/supervisor/actor-registry.ts'
import { parseCli } from '../../src/cli/options.ts'
import { defaultConfig } from '../../src/config.ts'
import { InspectorHub, inspectorCounters, jsonSafe, STATELY_INSPECT_VERSION } from '../../src/server/inspector.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'

/** Everything a `createWebSocketReceiver` (the library's own Node receiver) got from the daemon. */
function receive(url: string): StatelyInspectionEvent[] {
  const got: StatelyInspectionEvent[] = []
  createWebSocketReceiver({ server: url }).subscribe((ev) => {
    got.push(ev)
  })
  return got
}

/** The status of an upgrade to `url`: 101 when it opens, else the HTTP status the server refused it with. */
function upgradeStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.on('open', () => {
      ws.close()
      resolve(101)
    })
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0)
      ws.terminate()
    })
    ws.on('error', (err) => reject(err))
  })
}

const sessionOf = (events: StatelyInspectionEvent[], name: string) =>
  events.find((e) => e.type === '@xstate.actor' && e.name === name)?.sessionId

describe('--inspect off (the default)', () => {
  let d: TestDaemon
  const onInspect = vi.spyOn(ActorRegistry.prototype, 'onInspect')
  beforeAll(async () => {
    d = await startTestDaemon()
  })
  afterAll(async () => {
    await d?.destroy()
    onInspect.mockRestore()
  })

  it('has no /inspect endpoint, never listens to the inspection stream and serialises nothing', async () => {
    const before = inspectorCounters.serialised
    const page = await fetch(`${d.origin}/inspect?token=${d.token}`)
    expect(page.status).toBe(404)
    expect(await upgradeStatus(`${d.wsUrl.replace(/\/ws$/, '/inspect')}?token=${d.token}`)).toBe(404)
    // actors at work meanwhile: a DHT operation that times out
    const client = await d.client()
    await client.call('dht.findProviders', { cid: 'bafkqaaa', timeoutMs: 50 }).catch(() => {})
    expect(inspectorCounters.serialised).toBe(before)
    expect(onInspect).not.toHaveBeenCalled()
  })
})

describe('--inspect on', () => {
  let d: TestDaemon
  let inspectUrl: string
  const sockets: WebSocket[] = []
  beforeAll(async () => {
    d = await startTestDaemon({ inspect: true })
    inspectUrl = `${d.wsUrl.replace(/\/ws$/, '/inspect')}?token=${d.token}`
  })
  afterEach(() => {
    for (const s of sockets.splice(0)) s.terminate()
  })
  afterAll(async () => {
    await d?.destroy()
  })

  it('the stream and the page need the token (401 without), like /ws', async () => {
    const bare = inspectUrl.replace(/\?token=.*$/, '')
    expect(await upgradeStatus(bare)).toBe(401)
    expect(await upgradeStatus(`${bare}?token=wrong`)).toBe(401)
    expect((await fetch(`${d.origin}/inspect`)).status).toBe(401)
    const page = await fetch(`${d.origin}/inspect?token=${d.token}`)
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toMatch(/^text\/html/)
    const html = await page.text()
    expect(html).toContain('https://stately.ai/inspect')
    expect(html).toContain('@statelyai.connected')
  })

  it("createWebSocketReceiver gets the actor tree, the DHT's snapshots and full events", async () => {
    const events = receive(inspectUrl)
    // the live tree first: supervisor, node and dht, each with where it is now
    await vi.waitFor(
      () => {
        for (const name of ['supervisor', 'node:peer-a', 'dht:peer-a']) expect(sessionOf(events, name), name).toBeDefined()
      },
      { timeout: 10_000, interval: 20 },
    )
    for (const e of events) expect(e._version).toBe(STATELY_INSPECT_VERSION)
    const supervisor = events.find((e) => e.type === '@xstate.actor' && e.name === 'supervisor')
    const node = events.find((e) => e.type === '@xstate.actor' && e.name === 'node:peer-a')
    const dht = events.find((e) => e.type === '@xstate.actor' && e.name === 'dht:peer-a')
    if (supervisor?.type !== '@xstate.actor' || node?.type !== '@xstate.actor' || dht?.type !== '@xstate.actor')
      throw new Error('unreachable')
    expect(supervisor.parentId).toBeUndefined()
    expect(node.parentId).toBe(supervisor.sessionId)
    expect(dht.parentId).toBe(node.sessionId)
    for (const a of [supervisor, node, dht]) expect(a.rootId).toBe(supervisor.sessionId)
    // a definition the inspector can draw: the machine's config with its states
    expect(Object.keys(JSON.parse(dht.definition ?? '{}').states)).toEqual(expect.arrayContaining(['bootstrapping', 'ready', 'degraded']))
    // ... and one xstate accepts, as the inspector does with it
    const rebuilt = createMachine(JSON.parse(dht.definition ?? '{}'))
    expect(rebuilt.resolveState({ value: 'ready', context: {} }).matches('ready')).toBe(true)

    // snapshots of the dht carry its state and only its public context, as actors.list shows it
    const client = await d.client()
    const { actors } = await client.call<{ actors: ActorSnapshot[] }>('actors.list', { prefix: 'dht:peer-a' })
    const listed = actors.find((a) => a.systemId === 'dht:peer-a')
    const dhtSnapshots = () => events.filter((e) => e.type === '@xstate.snapshot' && e.sessionId === dht.sessionId)
    expect(dhtSnapshots().length).toBeGreaterThan(0)
    const last = dhtSnapshots().at(-1)
    if (last?.type !== '@xstate.snapshot') throw new Error('unreachable')
    expect((last.snapshot as unknown as { value: unknown }).value).toEqual(listed?.value)
    expect((last.snapshot as unknown as { context: unknown }).context).toEqual(listed?.context)

    // live: a DHT operation is a full event object (plain data) sent to the dht, and its snapshots follow
    const seen = events.length
    await client.call('dht.findProviders', { cid: 'bafkqaaa', limit: 7, timeoutMs: 50 }).catch(() => {})
    await vi.waitFor(
      () => {
        const enqueue = events
          .slice(seen)
          .find((e) => e.type === '@xstate.event' && e.sessionId === dht.sessionId && e.event.type === 'dht.enqueue')
        expect(enqueue).toBeDefined()
        if (enqueue?.type !== '@xstate.event') return
        expect(enqueue.event).toMatchObject({ type: 'dht.enqueue', op: { kind: 'findProviders', limit: 7, id: expect.anything() } })
        expect(enqueue.createdAt).toMatch(/^\d+$/)
        expect(
          events.slice(seen).some((e) => e.type === '@xstate.snapshot' && e.sessionId === dht.sessionId && e.event.type === 'dht.enqueue'),
        ).toBe(true)
      },
      { timeout: 10_000, interval: 20 },
    )
  })

  it('a new actor appears live with @xstate.actor, and nothing private leaves: no key bytes in any frame', async () => {
    const frames: string[] = []
    const ws = new WebSocket(inspectUrl)
    sockets.push(ws)
    ws.on('message', (data) => frames.push(String(data)))
    await vi.waitFor(() => expect(frames.some((f) => f.includes('"name":"dht:peer-a"'))).toBe(true), { timeout: 10_000, interval: 20 })
    const client = await d.client()
    const { peerid, peerkey } = await client.call<{ peerid: string; peerkey: string }>('peer', {})
    await vi.waitFor(
      () => {
        const names = frames
          .map((f) => JSON.parse(f) as StatelyInspectionEvent)
          .flatMap((e) => (e.type === '@xstate.actor' ? [e.name] : []))
        expect(names).toEqual(expect.arrayContaining([expect.stringMatching(/^node:/), expect.stringMatching(/^dht:/)]))
        expect(frames.some((f) => f.includes(peerid))).toBe(true)
      },
      { timeout: 10_000, interval: 20 },
    )
    // every frame is one StatelyInspectionEvent, JSON
    for (const f of frames) expect(['@xstate.actor', '@xstate.event', '@xstate.snapshot']).toContain(JSON.parse(f).type)
    // neither the session peer's key nor the daemon's identity key appears, in any encoding
    const identity = await readFile(`${d.dataDir}/identity.key`)
    const secrets = [peerkey, identity.toString('base64'), identity.toString('utf8').trim()]
    for (const f of frames) for (const secret of secrets) expect(f).not.toContain(secret)
    expect(frames.join('\n')).not.toMatch(/"\d+":\d+,"\d+":\d+,"\d+":\d+/) // no byte array serialised as an index map
  })
})

/** A stand-in /inspect client: takes frames, can fall behind, records how it was closed. */
function fakeSocket() {
  const handlers = new Map<string, () => void>()
  const socket = {
    OPEN: 1,
    readyState: 1,
    bufferedAmount: 0,
    frames: [] as string[],
    closed: undefined as number | undefined,
    /** Like a peer that reads nothing: every byte sent stays buffered. */
    stalled: false,
    send(text: string) {
      socket.frames.push(text)
      if (socket.stalled) socket.bufferedAmount += text.length
    },
    once(name: string, fn: () => void) {
      handlers.set(name, fn)
      return socket
    },
    on: () => socket,
    close(code: number) {
      socket.closed = code
      socket.readyState = 3
      handlers.get('close')?.()
    },
  }
  return socket
}

describe('InspectorHub', () => {
  const counter = setup({ types: { events: {} as { type: 'inc' } } }).createMachine({
    id: 'counter',
    context: { n: 0 },
    on: { inc: { actions: assign({ n: ({ context }) => context.n + 1 }) } },
  })

  it('listens only while a client is connected; a client that falls behind is closed with 1013', async () => {
    const registry = new ActorRegistry()
    const onInspect = vi.spyOn(registry, 'onInspect')
    const actor = createActor(counter, { inspect: registry.inspect }).start()
    const hub = new InspectorHub(registry, () => actor)
    const before = inspectorCounters.serialised
    actor.send({ type: 'inc' })
    expect(onInspect).not.toHaveBeenCalled()
    expect(inspectorCounters.serialised).toBe(before)

    const socket = fakeSocket()
    hub.add(socket as never)
    // the replay: the actor, then where it is now
    expect(socket.frames.map((f) => JSON.parse(f).type)).toEqual(['@xstate.actor', '@xstate.snapshot'])
    expect(onInspect).toHaveBeenCalledTimes(1)
    actor.send({ type: 'inc' })
    await vi.waitFor(() => expect(socket.frames.some((f) => JSON.parse(f).event?.type === 'inc')).toBe(true))

    socket.bufferedAmount = 64 * 1024 * 1024
    actor.send({ type: 'inc' })
    await vi.waitFor(() => expect(socket.closed).toBe(1013))
    expect(hub.clients).toBe(0)
    // nobody left: no more listening, nothing more serialised
    const after = inspectorCounters.serialised
    actor.send({ type: 'inc' })
    await new Promise((resolve) => setImmediate(resolve))
    expect(inspectorCounters.serialised).toBe(after)
    actor.stop()
  })

  it('a client is not closed for its own replay, only for falling behind after it', async () => {
    const registry = new ActorRegistry()
    const actor = createActor(counter, { inspect: registry.inspect }).start()
    const hub = new InspectorHub(registry, () => actor, 100)
    const socket = fakeSocket()
    socket.stalled = true
    hub.add(socket as never)
    // the replay alone is over the 100 bytes allowed
    expect(socket.bufferedAmount).toBeGreaterThan(100)
    expect(hub.clients).toBe(1)
    actor.send({ type: 'inc' })
    await vi.waitFor(() => expect(socket.closed).toBe(1013))
    expect(socket.frames.length).toBeGreaterThan(2)
    actor.stop()
  })
})

describe('config and flag', () => {
  it('inspect is off by default; --inspect turns it on', () => {
    expect(defaultConfig('/tmp/x').inspect).toBe(false)
    expect(parseCli(['start']).flags.inspect).toBeUndefined()
    expect(parseCli(['start', '--inspect']).flags).toEqual({ inspect: true })
  })
})

describe('jsonSafe: what an event or output may carry', () => {
  it('replaces bytes, keys, functions and cycles; keeps plain data and string forms', async () => {
    const key = privateKeyFromRaw(new Uint8Array(64).fill(7))
    const cyclic: Record<string, unknown> = { a: 1 }
    cyclic.self = cyclic
    const out = jsonSafe({
      type: 'x',
      n: 1,
      s: 'str',
      list: [1, 'two', null],
      bytes: new Uint8Array(32),
      buf: Buffer.from('secret'),
      key,
      pub: key.publicKey,
      fn: function named() {},
      big: 10n,
      inf: Number.POSITIVE_INFINITY,
      err: new Error('boom'),
      when: new Date(0),
      cyclic,
      nested: { deeper: { bytes: new Uint8Array(3) } },
    })
    expect(out).toEqual({
      type: 'x',
      n: 1,
      s: 'str',
      list: [1, 'two', null],
      bytes: '[Uint8Array 32 bytes]',
      buf: '[Buffer 6 bytes]',
      key: '[Ed25519PrivateKey]',
      pub: key.publicKey.toString(),
      fn: '[function named]',
      big: '10n',
      inf: 'Infinity',
      err: { name: 'Error', message: 'boom' },
      when: '1970-01-01T00:00:00.000Z',
      cyclic: { a: 1, self: '[circular]' },
      nested: { deeper: { bytes: '[Uint8Array 3 bytes]' } },
    })
    expect(JSON.stringify(out)).not.toContain('secret')
  })

  it('_version is the pinned @statelyai/inspect release', async () => {
    const require = createRequire(import.meta.url)
    const main = require.resolve('@statelyai/inspect')
    const pkg = JSON.parse(await readFile(main.replace(/dist\/index\.mjs$/, 'package.json'), 'utf8')) as { version: string }
    expect(STATELY_INSPECT_VERSION).toBe(pkg.version)
  })
})
