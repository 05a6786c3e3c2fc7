import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import WebSocket from 'ws'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'

/**
 * What p2p-webapp's browser client (pkg/client/src/client.ts, v1.0.0) puts on the wire, driven with
 * raw `ws`: request ids counting from 0, `isresponse: false` on requests, `peer` first, ack numbers
 * from 0, and pushes told apart from responses by `isresponse` alone.
 */

interface Frame {
  requestid: number | null
  isresponse: boolean
  result?: unknown
  error?: { code: number; message: string }
  method?: string
  params?: Record<string, unknown>
}

class WebappTab {
  #requestID = 0
  readonly frames: Frame[] = []
  readonly #waiters = new Set<() => void>()

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()) as Frame)
      for (const w of this.#waiters) w()
    })
  }

  /** The way a page served by the daemon connects: the token cookie from `GET /?token=`, the daemon's own Origin. */
  static async open(d: TestDaemon): Promise<WebappTab> {
    const page = await fetch(`${d.origin}/?token=${d.token}`, { redirect: 'manual' })
    const cookie = page.headers.get('set-cookie')?.split(';')[0]
    if (!cookie) throw new Error('the daemon set no token cookie')
    const ws = new WebSocket(d.wsUrl, { headers: { cookie, origin: d.origin } })
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    return new WebappTab(ws)
  }

  /** sendRequest() of the p2p-webapp client; resolves with the id it used and the whole response frame. */
  async request(method: string, params: unknown): Promise<{ id: number; frame: Frame }> {
    const id = this.#requestID++
    this.ws.send(JSON.stringify({ requestid: id, method, params, isresponse: false }))
    return { id, frame: await this.next((f) => f.isresponse && f.requestid === id) }
  }

  /** A request whose response must be exactly {requestid, isresponse: true, result}. */
  async expectResult(method: string, params: unknown, result: unknown): Promise<void> {
    const { id, frame } = await this.request(method, params)
    expect(frame, method).toEqual({ requestid: id, isresponse: true, result })
  }

  /** The first frame (already received or still to come) that matches. */
  next(match: (f: Frame) => boolean, timeoutMs = 60_000): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.frames.find(match)
        if (!found) return
        this.#waiters.delete(check)
        clearTimeout(timer)
        resolve(found)
      }
      const timer = setTimeout(() => {
        this.#waiters.delete(check)
        reject(new Error(`no frame matched within ${timeoutMs} ms; got ${JSON.stringify(this.frames.slice(-5))}`))
      }, timeoutMs)
      this.#waiters.add(check)
      check()
    })
  }

  push(method: string, match: (params: Record<string, unknown>) => boolean = () => true): Promise<Frame> {
    return this.next((f) => !f.isresponse && f.method === method && match(f.params ?? {}))
  }

  close(): void {
    this.ws.close()
  }
}

/** A push frame is exactly {requestid, isresponse: false, method, params}, requestid a server counter. */
function expectPush(frame: Frame, method: string, params: Record<string, unknown>): void {
  expect(Object.keys(frame).sort()).toEqual(['isresponse', 'method', 'params', 'requestid'])
  expect(frame).toMatchObject({ isresponse: false, method, params })
  expect(Number.isInteger(frame.requestid)).toBe(true)
}

describe("p2p-webapp's browser client against Switchboard, on the wire", () => {
  let a: TestDaemon
  let b: TestDaemon
  let tab1: WebappTab
  let tab2: WebappTab
  let peer1: string
  let peer2: string
  // p2p-webapp's own docs name protocols and topics like this: "chat", "chatroom"
  const protocol = 'chat'
  const topic = 'chatroom'

  beforeAll(async () => {
    a = await startTestDaemon()
    b = await startTestDaemon({ bootstrap: a.core.nodes.info('peer-a').addrs.filter((x) => x.includes('/127.0.0.1/tcp/')) })
    ;[tab1, tab2] = await Promise.all([WebappTab.open(a), WebappTab.open(b)])
  })
  afterAll(async () => {
    tab1?.close()
    tab2?.close()
    await Promise.all([a?.destroy(), b?.destroy()])
  })

  it('peer: the first call, request id 0, answers {peerid, peerkey} in a bare response envelope', async () => {
    const [r1, r2] = (await Promise.all([tab1.request('peer', {}), tab2.request('peer', {})])).map((r) => r.frame)
    for (const r of [r1, r2]) {
      expect(Object.keys(r ?? {}).sort()).toEqual(['isresponse', 'requestid', 'result'])
      expect(r).toEqual({
        requestid: 0,
        isresponse: true,
        result: { peerid: expect.any(String), peerkey: expect.any(String), version: expect.any(String) },
      })
    }
    peer1 = (r1?.result as { peerid: string } | undefined)?.peerid ?? ''
    peer2 = (r2?.result as { peerid: string } | undefined)?.peerid ?? ''
    expect(peer1).not.toBe(peer2)
    expect(a.core.nodes.aliasOfPeerId(peer1)).toBe('peer-b')
    expect(b.core.nodes.aliasOfPeerId(peer2)).toBe('peer-b')
  })

  it('start {protocol}: null', async () => {
    await tab1.expectResult('start', { protocol }, null)
    await tab2.expectResult('start', { protocol }, null)
  })

  it('subscribe {topic}: null, then peerChange pushes for the other tab', async () => {
    const seen1 = tab1.push('peerChange', (p) => p.peerid === peer2)
    const seen2 = tab2.push('peerChange', (p) => p.peerid === peer1)
    await Promise.all([tab1.expectResult('subscribe', { topic }, null), tab2.expectResult('subscribe', { topic }, null)])
    expectPush(await seen1, 'peerChange', { topic, peerid: peer2, joined: true })
    expectPush(await seen2, 'peerChange', { topic, peerid: peer1, joined: true })
  })

  it('publish {topic, data}: topicData push on the other tab', async () => {
    const got = tab2.push('topicData', (p) => p.topic === topic)
    await tab1.expectResult('publish', { topic, data: { text: 'hello room' } }, null)
    expectPush(await got, 'topicData', { topic, peerid: peer1, data: { text: 'hello room' } })
  })

  it('send {peer, protocol, data, ack: 0}: null at once, peerData on the other tab, then ack 0', async () => {
    const data = { text: 'hello tab 2', n: 1 }
    const delivered = tab2.push('peerData', (p) => p.protocol === protocol)
    const ack0 = tab1.push('ack', (p) => p.ack === 0)
    await tab1.expectResult('send', { peer: peer2, protocol, data, ack: 0 }, null)
    expectPush(await delivered, 'peerData', { peer: peer1, protocol, data })
    expectPush(await ack0, 'ack', { ack: 0, delivered: true })
    // the client numbers its next message 1; the other tab numbers its own from 0
    const second = tab2.push('peerData', (p) => p.data === 'second')
    const ack1 = tab1.push('ack', (p) => p.ack === 1)
    await tab1.expectResult('send', { peer: peer2, protocol, data: 'second', ack: 1 }, null)
    expectPush(await second, 'peerData', { peer: peer1, protocol, data: 'second' })
    expectPush(await ack1, 'ack', { ack: 1, delivered: true })
    const back = tab1.push('peerData', (p) => p.data === 'reply')
    const replyAck = tab2.push('ack', (p) => p.ack === 0)
    await tab2.expectResult('send', { peer: peer1, protocol, data: 'reply', ack: 0 }, null)
    expectPush(await back, 'peerData', { peer: peer2, protocol, data: 'reply' })
    expectPush(await replyAck, 'ack', { ack: 0, delivered: true })
  })

  it('listpeers {topic}: {peers: [the other tab]}', async () => {
    await tab1.expectResult('listpeers', { topic }, { peers: [peer2] })
  })

  it('addpeers {peerIds}: null, and the other tab stays connected', async () => {
    await tab1.expectResult('addpeers', { peerIds: [peer2] }, null)
    const libp2p = a.core.nodes.handle('peer-b').libp2p
    await vi.waitFor(() => expect(libp2p.getConnections().some((c) => c.remotePeer.toString() === peer2)).toBe(true), { timeout: 30_000 })
  })

  it('every push used the push envelope, with server request ids counting up', () => {
    for (const tab of [tab1, tab2]) {
      const pushes = tab.frames.filter((f) => !f.isresponse)
      expect(pushes.length).toBeGreaterThan(0)
      for (const p of pushes) expect(Object.keys(p).sort()).toEqual(['isresponse', 'method', 'params', 'requestid'])
      const ids = pushes.map((p) => p.requestid as number)
      expect(ids).toEqual([...ids].sort((x, y) => x - y))
      expect(new Set(ids).size).toBe(ids.length)
      // responses never carry a method, and every request got exactly one
      const responses = tab.frames.filter((f) => f.isresponse)
      expect(responses.every((r) => !('method' in r))).toBe(true)
      expect(new Set(responses.map((r) => r.requestid)).size).toBe(responses.length)
    }
  })
})
