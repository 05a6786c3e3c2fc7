import { fileURLToPath } from 'node:url'
import type { TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { build } from 'esbuild'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import WebSocket from 'ws'
import { SwitchboardClient } from '../../src/client/client.ts'
import {
  type MethodName,
  type MethodParams,
  type MethodResult,
  methodNames,
  methodSchemas,
  type PushName,
  pushNames,
  pushSchemas,
} from '../../src/protocol/index.ts'
import { allMethods } from '../../src/server/methods/index.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'
import { newPeerId } from '../support/process-daemon.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** Where a value breaks its schema, for a failure message that says which field. */
const errorsOf = (schema: TSchema, value: unknown) =>
  [...Value.Errors(schema, value)].slice(0, 5).map((e) => `${e.path || '/'}: ${e.message}`)

describe('protocol schemas (src/protocol)', () => {
  it('name every method the server answers, with the params schemas the server validates with', () => {
    const server = allMethods()
    expect([...methodNames].sort()).toEqual([...server.keys()].sort())
    for (const [name, m] of server) {
      expect(JSON.parse(JSON.stringify(methodSchemas[name as MethodName].params)), name).toEqual(JSON.parse(JSON.stringify(m.params)))
    }
  })

  it('the client bundles for a browser: no node:* module, no server, libp2p or fastify code in its import graph', async () => {
    const out = await build({
      entryPoints: [`${ROOT}src/client/index.ts`, `${ROOT}src/client/p2p-webapp.ts`],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      minify: true,
      write: false,
      metafile: true,
      outdir: '/tmp/unused',
      logLevel: 'silent',
    })
    const inputs = Object.keys(out.metafile.inputs)
    expect(
      inputs.filter((i) => /^node:|src\/(server|actors|p2p|cli)\/|node_modules\/(fastify|libp2p|@libp2p|helia|@helia|ws)\//.test(i)),
    ).toEqual([])
    expect(inputs.some((i) => i.includes('src/client/client.ts'))).toBe(true)
    // mostly TypeBox (the schemas and Value.Check): about 125 kB minified per entry today
    for (const f of out.outputFiles) expect(f.contents.length, f.path).toBeLessThan(200_000)
  })
})

/**
 * Every method called on real daemons, every answer checked against its result schema, and every
 * push kind received checked against its push schema: so the schemas cannot drift from the wire.
 * One scenario on two daemons (A, B), connected, paired, chatting, sharing a file.
 */
describe('every method and push against a live daemon', () => {
  let a: TestDaemon
  let b: TestDaemon
  let ca: SwitchboardClient
  let cb: SwitchboardClient
  const called = new Set<MethodName>()
  const pushes = new Map<PushName, unknown[]>()

  const open = async (d: TestDaemon) => {
    const c = await SwitchboardClient.connect(d.wsUrl, { token: d.token, WebSocket: WebSocket as never, timeoutMs: 60_000 })
    for (const name of pushNames) c.on(name, (p) => pushes.set(name, [...(pushes.get(name) ?? []), p]))
    return c
  }

  /** Call and check the answer against the method's result schema. */
  async function check<M extends MethodName>(c: SwitchboardClient, method: M, params: MethodParams<M>): Promise<MethodResult<M>> {
    const result = await (c.call as (m: M, p: MethodParams<M>) => Promise<MethodResult<M>>)(method, params)
    const schema = methodSchemas[method].result
    expect(errorsOf(schema, result), `${method} -> ${JSON.stringify(result).slice(0, 400)}`).toEqual([])
    called.add(method)
    return result
  }
  const pushed = (name: PushName, match: (p: never) => boolean = () => true) =>
    vi.waitFor(
      () => {
        const found = (pushes.get(name) ?? []).find((p) => match(p as never))
        if (found === undefined) throw new Error(`no ${name} push yet`)
        return found
      },
      { timeout: 30_000, interval: 50 },
    )

  beforeAll(async () => {
    a = await startTestDaemon()
    const tcp = a.core.nodes.info('peer-a').addrs.filter((x) => x.includes('/127.0.0.1/tcp/'))
    b = await startTestDaemon({ bootstrap: tcp })
    ;[ca, cb] = await Promise.all([open(a), open(b)])
  })
  afterAll(async () => {
    ca?.close()
    cb?.close()
    await Promise.all([a?.destroy(), b?.destroy()])
  })

  it('answers and pushes match their schemas', async () => {
    const infoA = await check(ca, 'node.info', {})
    const infoB = await check(cb, 'node.info', {})
    const bId = infoB.peerid
    const bAddrs = infoB.addrs.filter((x) => x.includes('/127.0.0.1/tcp/'))

    await check(ca, 'machines.list', {})
    await check(ca, 'actors.list', { prefix: 'node:' })
    const sub = await check(ca, 'actors.subscribe', {})
    await check(ca, 'inspect.subscribe', {})
    await check(ca, 'actors.send', { systemId: 'pruner:peer-a', event: { type: 'pruner.check' } })

    await check(ca, 'peers.connect', { peerId: bId, addrs: bAddrs })
    await check(ca, 'peers.connectMany', { peerIds: [bId] })
    await check(ca, 'peers.ensureConnected', { peerIds: [bId] })
    await check(ca, 'peers.connectAll', {})
    await check(ca, 'peers.update', { peerId: bId, name: 'bee' })
    await check(ca, 'peers.list', {})
    await check(ca, 'addressbook.list', {})
    await check(ca, 'reputation.list', {})
    await check(ca, 'activity.list', {})
    const stranger = await newPeerId()
    await check(ca, 'bans.add', { peerId: stranger, ttlSeconds: 60, reason: 'schema test' })
    await check(ca, 'bans.list', {})
    await check(ca, 'bans.remove', { peerId: stranger })
    await check(ca, 'addpeers', { peerIds: [bId] })
    await check(ca, 'removepeers', { peerIds: [bId] })

    // pairing: B joins A's ticket; another ticket is cancelled
    const ticket = await check(ca, 'pairing.create', { name: 'A' })
    await check(cb, 'pairing.join', { ticket: ticket.ticket, name: 'B' })
    const other = await check(ca, 'pairing.create', {})
    await check(ca, 'pairing.cancel', { pairingId: other.pairingId })

    // topics, both sides
    await Promise.all([check(ca, 'subscribe', { topic: 'schemas' }), check(cb, 'subscribe', { topic: 'schemas' })])
    await pushed('peerChange')
    await check(cb, 'publish', { topic: 'schemas', data: { hello: 'a' } })
    await check(cb, 'publish', { topic: 'schemas', data: 'plain', encoding: 'text' })
    await pushed('topicData', (p: { encoding?: string }) => p.encoding === 'text')
    await check(ca, 'listpeers', { topic: 'schemas' })
    await check(cb, 'unsubscribe', { topic: 'schemas' })

    // files: own, remote, fetched
    const stored = await check(ca, 'storefile', { path: 'docs/a.txt', content: btoa('hello') })
    await check(ca, 'listfiles', { peerid: infoA.peerid })
    await check(cb, 'listfiles', { peerid: infoA.peerid })
    await check(cb, 'getfile', { cid: stored.fileCid, fallbackPeerID: infoA.peerid })
    await pushed('gotFile', (p: { success: boolean }) => p.success)
    await check(ca, 'getfile', { cid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy' })
    await pushed('gotFile', (p: { success: boolean }) => !p.success)
    await check(ca, 'removefile', { path: 'docs' })
    await check(ca, 'files.gc', {})

    // direct messages, acknowledged
    await Promise.all([check(ca, 'start', { protocol: 'chat' }), check(cb, 'start', { protocol: 'chat' })])
    await check(cb, 'send', { peer: infoA.peerid, protocol: 'chat', data: { text: 'hi' }, ack: 0 })
    await pushed('peerData')
    await pushed('ack')
    await check(ca, 'stop', { protocol: 'chat' })

    // presence: B's record reaches A
    await check(cb, 'presence.announce', { nickname: 'bee', ttlSeconds: 60 })
    await check(ca, 'presence.announce', { nickname: 'ay' })
    await pushed('presence.update', (p: { online: unknown[] }) => p.online.length > 0)
    await check(ca, 'presence.list', {})

    // the DHT of two daemons
    await vi.waitFor(async () => expect((await ca.call('node.info')).dhtReady).toBe(true), { timeout: 60_000, interval: 200 })
    const cid = 'bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq'
    await check(ca, 'dht.provide', { cid, timeoutMs: 30_000 })
    await check(cb, 'dht.findProviders', { cid, limit: 5, timeoutMs: 30_000 })
    await check(cb, 'dht.findPeer', { peerId: infoA.peerid, timeoutMs: 30_000 })

    // a session peer on its own connection
    const session = await open(a)
    await check(session, 'peer', {})
    session.close()

    await check(ca, 'peers.disconnect', { peerId: bId })
    await check(ca, 'peers.forget', { peerId: bId })
    await pushed('actor.stopped')
    await check(ca, 'actors.unsubscribe', { subscription: sub.subscription })

    expect(methodNames.filter((m) => !called.has(m))).toEqual([])
    for (const name of pushNames) {
      const seen = pushes.get(name) ?? []
      expect(seen.length, `${name} pushed`).toBeGreaterThan(0)
      for (const p of seen) expect(errorsOf(pushSchemas[name], p), `${name} ${JSON.stringify(p).slice(0, 400)}`).toEqual([])
    }
  })
})
