import { afterAll, beforeAll, describe, expect, it } from 'vitest'
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
    const before = d.sb.metrics.droppedPushes
    for (let round = 0; round < 40 && d.sb.metrics.droppedPushes === before; round++) {
      const dht = d.sb.dhtRef('peer-a')
      for (let i = 0; i < 2000; i++) dht?.send({ type: 'dht.routingTable', size: i % 2 })
      await fast.call('node.info')
    }
    expect(d.sb.metrics.droppedPushes).toBeGreaterThan(before)
    // the fast client kept getting its pushes and answers
    expect(pushes.length).toBeGreaterThan(0)
    await expect(fast.call('node.info')).resolves.toBeTruthy()
    slow.terminate()
  })

  it('disconnects a client that stops reading answers it must get, instead of dropping them or growing without bound', async () => {
    const slow = new WebSocket(`${d.wsUrl}?token=${d.token}`)
    await new Promise((resolve, reject) => {
      slow.once('open', resolve)
      slow.once('error', reject)
    })
    slow.pause()
    const before = d.sb.metrics.slowClientsClosed
    // responses are never dropped: asked for and not read, they pile up until the limit closes the socket
    for (let round = 0; round < 200 && d.sb.metrics.slowClientsClosed === before; round++) {
      for (let i = 0; i < 200; i++) slow.send(JSON.stringify({ requestid: round * 200 + i, method: 'machines.list', params: {} }))
      await new Promise<void>((resolve) => setImmediate(resolve))
    }
    expect(d.sb.metrics.slowClientsClosed).toBe(before + 1)
    const fast = await d.client()
    await expect(fast.call('node.info')).resolves.toBeTruthy()
    slow.terminate()
  })
})

