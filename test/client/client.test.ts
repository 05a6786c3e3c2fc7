import { afterAll, afterEach, beforeAll, describe, expect, expectTypeOf, it, vi } from 'vitest'
import WebSocket from 'ws'
import {
  type ClientEvents,
  type ClientState,
  SwitchboardClient,
  SwitchboardError,
  SwitchboardTimeoutError,
} from '../../src/client/index.ts'
import { connect as connectWebapp, type P2PWebAppClient } from '../../src/client/p2p-webapp.ts'
import type { MethodResult } from '../../src/protocol/index.ts'
import { startTestDaemon, type TestDaemon, tempDir } from '../support/daemon.ts'
import { freePorts } from '../support/process-daemon.ts'

const Ws = WebSocket as never
const clients: SwitchboardClient[] = []
const open = async (d: TestDaemon, opts: Partial<ConstructorParameters<typeof SwitchboardClient>[0]> = {}) => {
  const c = await SwitchboardClient.connect(d.wsUrl, { token: d.token, WebSocket: Ws, ...opts })
  clients.push(c)
  return c
}
afterEach(() => {
  for (const c of clients.splice(0)) c.close()
})

describe('SwitchboardClient', () => {
  let d: TestDaemon
  beforeAll(async () => {
    d = await startTestDaemon()
  })
  afterAll(() => d?.destroy())

  it('calls are typed by method name, results by the schemas', async () => {
    const c = await open(d)
    const info = await c.call('node.info')
    expectTypeOf(info.peerid).toEqualTypeOf<string>()
    expectTypeOf(info.dhtReady).toEqualTypeOf<boolean>()
    expect(info.alias).toBe('peer-a')
    const { peers } = await c.call('peers.list', {})
    expectTypeOf(peers).toEqualTypeOf<MethodResult<'peers.list'>['peers']>()
    expect(peers).toEqual([])
    expectTypeOf<MethodResult<'subscribe'>>().toEqualTypeOf<null>()
    // @ts-expect-error: subscribe needs a topic
    await expect(c.call('subscribe', {})).rejects.toMatchObject({ code: 400 })
    // @ts-expect-error: no such method
    await expect(c.call('no.such', {})).rejects.toMatchObject({ code: 400 })
    await expect(c.call('actors.unsubscribe', { subscription: 'nope' })).rejects.toBeInstanceOf(SwitchboardError)
    c.on('peer.state', (p) =>
      expectTypeOf(p.status).toEqualTypeOf<'disconnected' | 'connecting' | 'connected' | 'syncing' | 'backoff' | 'failed'>(),
    )
    c.on('state', (e) => expectTypeOf(e).toEqualTypeOf<ClientEvents['state']>())
    // validate: every answer checked against its result schema on arrival
    const v = await open(d, { validate: true })
    expect((await v.call('machines.list')).machines.length).toBeGreaterThan(0)
    expect((await v.call('actors.subscribe', { prefix: 'node:' })).actors.length).toBeGreaterThan(0)
  })

  it('a call past its timeout rejects with a 504 SwitchboardTimeoutError; the default timeout applies too', async () => {
    // a lone daemon's subscribe waits for a topic peer (or topicMeshTimeoutMs, 5 s)
    const c = await open(d, { timeoutMs: 60_000 })
    const err = await c.call('subscribe', { topic: 'slow-1' }, { timeoutMs: 50 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(SwitchboardTimeoutError)
    expect(err).toMatchObject({ code: 504, method: 'subscribe' })
    const short = await open(d, { timeoutMs: 50 })
    await expect(short.call('subscribe', { topic: 'slow-2' })).rejects.toBeInstanceOf(SwitchboardTimeoutError)
    // the client still works after a timeout, and the late answer is ignored
    expect((await c.call('node.info')).alias).toBe('peer-a')
  })

  it('an AbortSignal rejects the call with its reason, before or while it waits', async () => {
    const c = await open(d)
    const ac = new AbortController()
    const pending = c.call('subscribe', { topic: 'aborted' }, { signal: ac.signal })
    ac.abort(new Error('user left'))
    await expect(pending).rejects.toThrow('user left')
    await expect(c.call('node.info', {}, { signal: AbortSignal.abort(new Error('already')) })).rejects.toThrow('already')
    await expect(c.waitFor('topicData', () => true, { signal: AbortSignal.timeout(20) })).rejects.toThrow()
    expect((await c.call('node.info')).alias).toBe('peer-a')
  })

  it('a first connection that fails rejects once with code 0 (wrong token), no retry loop', async () => {
    const states: ClientState[] = []
    const c = new SwitchboardClient({ url: d.wsUrl, token: 'wrong', WebSocket: Ws })
    c.on('state', (e) => states.push(e.state))
    await expect(c.ready()).rejects.toMatchObject({ code: 0 })
    expect(c.state).toBe('closed')
    expect(states).toEqual(['closed'])
    await expect(c.call('node.info')).rejects.toMatchObject({ code: 0 })
  })

  it('a dropped socket (the daemon still up) comes back as the same session peer, on its topic, with the same actor subscription id', async () => {
    const sockets: WebSocket[] = []
    class Recorded extends WebSocket {
      constructor(...args: ConstructorParameters<typeof WebSocket>) {
        super(...args)
        sockets.push(this)
      }
    }
    const c = await open(d, { WebSocket: Recorded as never, reconnect: { initialMs: 20, maxMs: 200 } })
    const { peerid } = await c.call('peer')
    await c.call('subscribe', { topic: 'drop' })
    const { subscription } = await c.call('actors.subscribe', { prefix: 'topic:' })
    const resynced = c.waitFor('resync', (e) => e.reason === 'reconnect')
    const back = c.waitFor('reconnected')
    sockets[0]?.terminate()
    expect((await back).peerid).toBe(peerid)
    expect((await resynced).subscription).toBe(subscription)
    expect(sockets).toHaveLength(2)
    expect((await c.call('node.info')).peerid).toBe(peerid)
    const alias = d.core.nodes.aliasOfPeerId(peerid) as string
    // re-subscribed: the new session node has the topic's actor
    expect(d.core.actors.registry.get(`topic:${alias}:drop`)).toBeDefined()
    // the app's subscription id still works
    await c.call('actors.unsubscribe', { subscription })
  })

  it('a seq gap in actor.snapshot pushes makes it re-list the actors and say so', async () => {
    // the socket loses the first snapshot of one topic actor, as a dropped push would
    let dropped = 0
    class LossyWebSocket extends WebSocket {
      // biome-ignore lint/suspicious/noExplicitAny: ws's overloads, narrowed to what the client uses
      override addEventListener(type: any, listener: any, options?: any): void {
        if (type !== 'message') {
          super.addEventListener(type, listener, options)
          return
        }
        super.addEventListener(
          'message',
          ((ev: { data: unknown }) => {
            const f = JSON.parse(String(ev.data)) as { method?: string; params?: { systemId?: string } }
            if (f.method === 'actor.snapshot' && f.params?.systemId === 'topic:peer-a:gappy' && dropped === 0) {
              dropped++
              return
            }
            listener(ev)
          }) as never,
          options,
        )
      }
    }
    const c = await open(d, { WebSocket: LossyWebSocket as never })
    const { subscription } = await c.call('actors.subscribe', { prefix: 'topic:' })
    const resync = c.waitFor('resync', (e) => e.reason === 'gap')
    const listed = vi.fn()
    c.on('actor.snapshot', listed)
    await c.call('subscribe', { topic: 'gappy' })
    const e = await resync
    expect(dropped).toBe(1)
    expect(e).toMatchObject({ subscription, prefix: 'topic:', reason: 'gap' })
    expect(e.actors.map((a) => a.systemId)).toContain('topic:peer-a:gappy')
    // later pushes carry the subscription id the app got
    expect(listed.mock.calls.every(([p]) => p.subscription === subscription)).toBe(true)
  })
})

describe('reconnect across a daemon restart', () => {
  let d: TestDaemon
  let dataDir: string
  let config: Parameters<typeof startTestDaemon>[0]
  beforeAll(async () => {
    dataDir = await tempDir()
    const base = await freePorts(2)
    config = { port: base, portRangeEnd: base, listen: [`/ip4/127.0.0.1/tcp/${base + 1}`] }
    d = await startTestDaemon(config, dataDir)
  })
  afterAll(async () => {
    await d?.destroy()
    const { rm } = await import('node:fs/promises')
    await rm(dataDir, { recursive: true, force: true })
  })

  it('comes back as the same session peer, re-subscribed and re-started: messages flow with no app code', async () => {
    const states: ClientState[] = []
    const app = await open(d, { reconnect: { initialMs: 50, maxMs: 500 }, timeoutMs: 60_000 })
    app.on('state', (e) => states.push(e.state))
    const topicData: unknown[] = []
    const peerData: unknown[] = []
    app.on('topicData', (p) => topicData.push(p.data))
    app.on('peerData', (p) => peerData.push(p.data))
    // what the app does once
    const { peerid, peerkey } = await app.call('peer')
    await app.call('subscribe', { topic: 'room' })
    await app.call('start', { protocol: 'chat' })
    expect(app.peerid).toBe(peerid)

    await d.close()
    await vi.waitFor(() => expect(app.state).toBe('reconnecting'), { timeout: 10_000 })
    // a call made meanwhile waits for the reconnect
    const during = app.call('node.info')
    const reconnected = app.waitFor('reconnected', () => true, { timeoutMs: 60_000 })
    d = await startTestDaemon(config, dataDir)
    expect((await reconnected).peerid).toBe(peerid)
    expect((await during).peerid).toBe(peerid)
    expect(app.state).toBe('open')
    expect(app.peerkey).toBe(peerkey)
    expect(states).toEqual(['reconnecting', 'open'])

    // another client of the restarted daemon (test code, not the app's) publishes and sends to it
    const other = await open(d)
    await other.call('subscribe', { topic: 'room' })
    await other.call('start', { protocol: 'chat' })
    let n = 0
    await vi.waitFor(
      async () => {
        await other.call('publish', { topic: 'room', data: { n: ++n } })
        expect(topicData.length).toBeGreaterThan(0)
      },
      { timeout: 30_000, interval: 300 },
    )
    await other.call('send', { peer: peerid, protocol: 'chat', data: 'direct', ack: 0 })
    const ack = await other.waitFor('ack', (p) => p.ack === 0)
    expect(ack.delivered).toBe(true)
    await vi.waitFor(() => expect(peerData).toEqual(['direct']))
  })
})

describe('p2p-webapp facade', () => {
  let a: TestDaemon
  let b: TestDaemon
  const tabs: P2PWebAppClient[] = []
  beforeAll(async () => {
    a = await startTestDaemon()
    b = await startTestDaemon({ bootstrap: a.core.nodes.info('peer-a').addrs.filter((x) => x.includes('/127.0.0.1/tcp/')) })
  })
  afterAll(async () => {
    for (const t of tabs) t.close()
    await Promise.all([a?.destroy(), b?.destroy()])
  })

  it('drives a p2p-webapp-style chat between two clients: topic, direct messages, peers, files', async () => {
    const tab = async (d: TestDaemon) => {
      const t = await connectWebapp(undefined, { url: d.wsUrl, token: d.token, WebSocket: Ws })
      tabs.push(t)
      return t
    }
    const [t1, t2] = await Promise.all([tab(a), tab(b)])
    const p1 = t1.peerID as string
    const p2 = t2.peerID as string
    expect(p1).not.toBe(p2)
    expect(t1.peerKey).toEqual(expect.any(String))

    const room1: [string, unknown][] = []
    const room2: [string, unknown][] = []
    const joined1: string[] = []
    const dm2: [string, unknown][] = []
    await t1.start('chat', () => {})
    await t2.start('chat', async (peer, data) => {
      dm2.push([peer, data])
    })
    await expect(t1.start('chat', () => {})).rejects.toThrow("Protocol 'chat' already started")
    await expect(t1.send(p2, 'nochat', 'x')).rejects.toThrow('protocol not started')
    await Promise.all([
      t1.subscribe(
        'chatroom',
        (peer, data) => room1.push([peer, data]),
        (peer, joined) => joined && joined1.push(peer),
      ),
      t2.subscribe('chatroom', (peer, data) => room2.push([peer, data])),
    ])
    await vi.waitFor(() => expect(joined1).toContain(p2), { timeout: 30_000 })
    await t1.publish('chatroom', { text: 'hello room' })
    await vi.waitFor(() => expect(room2).toEqual([[p1, { text: 'hello room' }]]), { timeout: 30_000 })
    expect(await t1.listPeers('chatroom')).toEqual([p2])

    // send resolves once delivered (the ack)
    await t1.send(p2, 'chat', { text: 'hi 2' })
    expect(dm2).toEqual([[p1, { text: 'hi 2' }]])

    await t1.addPeers([p2])
    await t1.removePeers([p2])

    const stored = await t1.storeFile('notes/hello.txt', 'hello file')
    expect(stored).toEqual({ fileCid: expect.any(String), rootCid: expect.any(String) })
    const list = await t2.listFiles(p1)
    expect(list.rootCID).toBe(stored.rootCid)
    expect(list.entries['notes/hello.txt']).toMatchObject({ type: 'file', cid: stored.fileCid })
    const got = await t2.getFile(stored.fileCid, p1)
    expect(got.type === 'file' && atob(got.content)).toBe('hello file')
    await t1.removeFile('notes')
    await expect(t1.removeFile('notes')).rejects.toMatchObject({ code: 404 })

    await t2.unsubscribe('chatroom')
    await t1.stop('chat')
    await expect(t1.stop('chat')).rejects.toThrow("Protocol 'chat' not started")
  })
})
