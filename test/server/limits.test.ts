import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import WebSocket from 'ws'
import type { SwitchboardError } from '../../src/client/switchboard-client.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'

describe('per-connection limits', () => {
  let d: TestDaemon
  beforeAll(async () => {
    d = await startTestDaemon({ rateLimitBurst: 20, rateLimitPerSecond: 1 })
  })
  afterAll(async () => {
    await d.destroy()
  })

  it('answers a flood from one connection with 429 while another connection is served', async () => {
    const flooder = await d.client()
    const calm = await d.client()
    const results = await Promise.allSettled(Array.from({ length: 60 }, () => flooder.call('node.info')))
    const limited = results.filter((r) => r.status === 'rejected' && (r.reason as SwitchboardError).code === 429)
    const served = results.filter((r) => r.status === 'fulfilled')
    expect(served.length).toBeGreaterThan(0)
    expect(served.length).toBeLessThanOrEqual(21)
    expect(limited.length).toBe(60 - served.length)
    // the flooder's socket stays open and the other connection is untouched
    expect(flooder.socket.readyState).toBe(WebSocket.OPEN)
    await expect(calm.call<{ alias: string }>('node.info')).resolves.toMatchObject({ alias: 'peer-a' })
  })
})

describe('slow clients', () => {
  let d: TestDaemon
  beforeAll(async () => {
    d = await startTestDaemon()
  })
  afterAll(async () => {
    await d.destroy()
  })

  it('drops the oldest pushes of a client that stops reading, never the responses of others', async () => {
    const slow = new WebSocket(`${d.wsUrl}?token=${d.token}`)
    await new Promise((resolve, reject) => {
      slow.once('open', resolve)
      slow.once('error', reject)
    })
    // subscribe to the inspection stream, then stop reading: the server's send buffer fills up
    slow.send(JSON.stringify({ requestid: 1, method: 'inspect.subscribe', params: {} }))
    await new Promise((resolve) => slow.once('message', resolve))
    slow.pause()
    const fast = await d.client()
    const pushes: unknown[] = []
    fast.on('actor.snapshot', (p) => pushes.push(p))
    await fast.call('actors.subscribe', { prefix: 'dht:' })
    // each send makes inspection events for the slow client; a big burst makes many
    const before = d.core.metrics.droppedPushes
    for (let round = 0; round < 40 && d.core.metrics.droppedPushes === before; round++) {
      const dht = d.core.actors.lookup.dht('peer-a')
      for (let i = 0; i < 2000; i++) dht?.send({ type: 'dht.routingTable', size: i % 2 })
      await fast.call('node.info')
    }
    expect(d.core.metrics.droppedPushes).toBeGreaterThan(before)
    // the fast client kept getting its pushes and answers
    expect(pushes.length).toBeGreaterThan(0)
    await expect(fast.call('node.info')).resolves.toBeTruthy()
    slow.terminate()
  })

  it('a slow client whose queue holds only droppable topicData loses the oldest pushes and stays connected, far past the close threshold', {
    timeout: 180_000,
  }, async () => {
    const topic = 'firehose'
    const slow = new WebSocket(`${d.wsUrl}?token=${d.token}`)
    await new Promise((resolve, reject) => {
      slow.once('open', resolve)
      slow.once('error', reject)
    })
    const responses: unknown[] = []
    let topicData = 0
    slow.on('message', (raw) => {
      const frame = JSON.parse(String(raw)) as { isresponse: boolean; method?: string }
      if (frame.isresponse) responses.push(frame)
      else if (frame.method === 'topicData') topicData += 1
    })
    slow.send(JSON.stringify({ requestid: 1, method: 'subscribe', params: { topic } }))
    // a publisher on a session peer of the same daemon: its messages reach peer-a over GossipSub
    const publisher = await d.client()
    await publisher.call('peer', {})
    await publisher.call('subscribe', { topic })
    await vi.waitFor(() => expect(responses).toHaveLength(1), { timeout: 30_000 })
    await vi.waitFor(
      async () => {
        await publisher.call('publish', { topic, data: 'hello' })
        expect(topicData).toBeGreaterThan(0)
      },
      { timeout: 30_000, interval: 200 },
    )
    slow.pause()
    const dropped = d.core.metrics.droppedPushes
    const closed = d.core.metrics.slowClientsClosed
    // 200 KB a message: more than the 64 MiB that frames a client must get may pile up, all of it droppable
    const data = 'x'.repeat(200_000)
    let published = 0
    while (published < 1000 && (published < 500 || d.core.metrics.droppedPushes === dropped)) {
      await publisher.call('publish', { topic, data })
      published += 1
    }
    expect(d.core.metrics.droppedPushes).toBeGreaterThan(dropped)
    expect(d.core.metrics.slowClientsClosed).toBe(closed)
    expect(slow.readyState).toBe(WebSocket.OPEN)
    // reading again, it gets what was kept and then the answer it asked for
    slow.resume()
    slow.send(JSON.stringify({ requestid: 2, method: 'node.info', params: {} }))
    await vi.waitFor(() => expect(responses).toHaveLength(2), { timeout: 30_000 })
    expect(responses[1]).toMatchObject({ requestid: 2, result: { alias: 'peer-a' } })
    slow.terminate()
  })

  it('disconnects a client that stops reading answers it must get, instead of dropping them or growing without bound', async () => {
    const slow = new WebSocket(`${d.wsUrl}?token=${d.token}`)
    await new Promise((resolve, reject) => {
      slow.once('open', resolve)
      slow.once('error', reject)
    })
    slow.pause()
    const before = d.core.metrics.slowClientsClosed
    // responses are never dropped: asked for and not read, they pile up until the limit closes the socket
    for (let round = 0; round < 200 && d.core.metrics.slowClientsClosed === before; round++) {
      for (let i = 0; i < 200; i++) slow.send(JSON.stringify({ requestid: round * 200 + i, method: 'machines.list', params: {} }))
      await new Promise<void>((resolve) => setImmediate(resolve))
    }
    expect(d.core.metrics.slowClientsClosed).toBe(before + 1)
    const fast = await d.client()
    await expect(fast.call('node.info')).resolves.toBeTruthy()
    slow.terminate()
  })
})

describe('WebSocket connection cap', () => {
  let d: TestDaemon
  const sockets: WebSocket[] = []
  beforeAll(async () => {
    d = await startTestDaemon({ maxWebSocketConnections: 3 })
  })
  afterAll(async () => {
    for (const s of sockets) s.terminate()
    await d.destroy()
  })

  /** Upgrade with the token: the open socket, or the refusal's status and body. */
  const upgrade = () =>
    new Promise<WebSocket | { status: number; body: string }>((resolve, reject) => {
      const ws = new WebSocket(d.wsUrl, { headers: { authorization: `Bearer ${d.token}` } })
      ws.once('open', () => {
        sockets.push(ws)
        resolve(ws)
      })
      ws.once('unexpected-response', (_req, res) => {
        let body = ''
        res.setEncoding('utf8').on('data', (c: string) => (body += c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      })
      ws.once('error', reject)
    })

  it('refuses the upgrade past maxWebSocketConnections with 503 and a message naming the limit; a closed connection frees its slot', async () => {
    const open = await Promise.all([upgrade(), upgrade(), upgrade()])
    expect(open.every((s) => s instanceof WebSocket)).toBe(true)
    // refused upgrades (wrong token) neither count nor are counted against
    const wrong = new WebSocket(d.wsUrl, { headers: { authorization: `Bearer ${'0'.repeat(64)}` } })
    const refusedStatus = await new Promise<number>((resolve) =>
      wrong.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)),
    )
    expect(refusedStatus).toBe(401)
    const refused = await upgrade()
    expect(refused).toMatchObject({ status: 503 })
    expect((refused as { body: string }).body).toContain('maxWebSocketConnections')
    expect((refused as { body: string }).body).toContain('3')
    // the open ones keep working
    const first = open[0] as WebSocket
    first.send(JSON.stringify({ requestid: 1, method: 'node.info', params: {} }))
    await new Promise((resolve) => first.once('message', resolve))
    ;(open[1] as WebSocket).close()
    await vi.waitFor(
      async () => {
        const again = await upgrade()
        expect(again).toBeInstanceOf(WebSocket)
      },
      { timeout: 10_000, interval: 100 },
    )
    expect(await upgrade()).toMatchObject({ status: 503 })
  })
})
