import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import WebSocket from 'ws'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'

const ALLOWED_ORIGIN = 'http://app.switchboard.test'
const MAX_FRAME = 64 * 1024

interface Frame {
  requestid: number | null
  isresponse: boolean
  result?: unknown
  error?: { code: number; message: string }
  method?: string
  params?: unknown
}

/** A bare `ws` socket that records every frame, for checks the typed client would hide. */
class RawSocket {
  readonly frames: Frame[] = []
  readonly #waiters = new Set<() => void>()
  readonly closed: Promise<{ code: number; reason: string }>

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.frames.push(JSON.parse(String(data)) as Frame)
      for (const w of this.#waiters) w()
    })
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })))
  }

  static open(url: string, headers: Record<string, string> = {}): Promise<RawSocket> {
    const ws = new WebSocket(url, { headers })
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new RawSocket(ws)))
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused with ${res.statusCode}`)))
      ws.once('error', reject)
    })
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
  }

  /** The first response frame matching `predicate`, already received or still to come. */
  response(predicate: (f: Frame) => boolean): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const f = this.frames.find((x) => x.isresponse && predicate(x))
        if (!f) return
        this.#waiters.delete(check)
        clearTimeout(timer)
        resolve(f)
      }
      const timer = setTimeout(() => {
        this.#waiters.delete(check)
        reject(new Error(`no matching response; got ${JSON.stringify(this.frames)}`))
      }, 30_000)
      this.#waiters.add(check)
      check()
    })
  }

  async call(requestid: number, method: string, params: unknown = {}): Promise<Frame> {
    this.send({ requestid, method, params })
    return this.response((f) => f.requestid === requestid)
  }

  close(): Promise<unknown> {
    this.ws.close()
    return this.closed
  }
}

/** The HTTP status of an upgrade the server refuses, or 101 if it accepts. */
function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  const ws = new WebSocket(url, { headers })
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0)
      res.resume()
      ws.terminate()
    })
    ws.once('open', () => {
      ws.close()
      resolve(101)
    })
    ws.once('error', (err) => reject(err))
  })
}

describe('WebSocket endpoint', () => {
  let daemon: TestDaemon
  const sockets: RawSocket[] = []
  const open = async (url: string, headers: Record<string, string> = {}) => {
    const s = await RawSocket.open(url, headers)
    sockets.push(s)
    return s
  }
  const bearer = () => ({ authorization: `Bearer ${daemon.token}` })

  beforeAll(async () => {
    daemon = await startTestDaemon({
      maxFrameBytes: MAX_FRAME,
      maxFrameElements: 10_000,
      maxFrameKeys: 2_000,
      allowedOrigins: [ALLOWED_ORIGIN],
      dhtBootstrapTimeoutMs: 1_000,
    })
  })
  afterAll(async () => {
    await Promise.all(sockets.map((s) => s.close()))
    await daemon?.destroy()
  })

  describe('access', () => {
    it('refuses an upgrade without a token, or with a wrong one, with 401', async () => {
      expect(await upgradeStatus(daemon.wsUrl)).toBe(401)
      expect(await upgradeStatus(`${daemon.wsUrl}?token=${'0'.repeat(64)}`)).toBe(401)
      expect(await upgradeStatus(daemon.wsUrl, { authorization: `Bearer ${daemon.token.slice(0, -1)}` })).toBe(401)
    })

    it('accepts the token as an Authorization header', async () => {
      const s = await open(daemon.wsUrl, bearer())
      expect((await s.call(1, 'node.info')).result).toMatchObject({ alias: 'peer-a', peerid: daemon.peerId })
    })

    it('a malformed token cookie is a 401, not a server error; the Bearer scheme is case-insensitive', async () => {
      expect(await upgradeStatus(daemon.wsUrl, { cookie: 'switchboard_token=%E0%A4%A' })).toBe(401)
      expect((await fetch(`${daemon.origin}/metrics`, { headers: { cookie: 'switchboard_token=%E0%A4%A' } })).status).toBe(401)
      expect(await upgradeStatus(daemon.wsUrl, { authorization: `bearer ${daemon.token}` })).toBe(101)
    })

    it('accepts the token as the token query parameter', async () => {
      const s = await open(`${daemon.wsUrl}?token=${daemon.token}`)
      expect((await s.call(1, 'node.info')).result).toMatchObject({ alias: 'peer-a' })
    })

    it('GET /?token= sets an HttpOnly SameSite=Strict cookie that alone opens /ws', async () => {
      const res = await fetch(`${daemon.origin}/?token=${daemon.token}`, { redirect: 'manual' })
      const cookies = res.headers.getSetCookie()
      expect(cookies).toHaveLength(1)
      const cookie = cookies[0] ?? ''
      expect(cookie).toMatch(/;\s*HttpOnly/i)
      expect(cookie).toMatch(/;\s*SameSite=Strict/i)
      const pair = cookie.split(';')[0] ?? ''
      expect(pair).toContain(daemon.token)

      const s = await open(daemon.wsUrl, { cookie: pair })
      expect((await s.call(7, 'node.info')).result).toMatchObject({ alias: 'peer-a' })
      // the page itself is served with the cookie and refused without it
      expect((await fetch(`${daemon.origin}/`, { headers: { cookie: pair } })).status).toBe(200)
      expect((await fetch(`${daemon.origin}/`)).status).toBe(401)
    })

    it('GET / with a wrong token sets no cookie', async () => {
      const res = await fetch(`${daemon.origin}/?token=${'a'.repeat(64)}`, { redirect: 'manual' })
      expect(res.status).toBe(401)
      expect(res.headers.getSetCookie()).toEqual([])
    })

    it('refuses a foreign Origin with 403 even with a valid token', async () => {
      expect(await upgradeStatus(daemon.wsUrl, { ...bearer(), origin: 'http://evil.example' })).toBe(403)
      // same host, other port: another origin
      expect(
        await upgradeStatus(daemon.wsUrl, { ...bearer(), origin: `http://127.0.0.1:${daemon.port === 1 ? 2 : daemon.port - 1}` }),
      ).toBe(403)
      expect(await upgradeStatus(daemon.wsUrl, { origin: 'http://evil.example' })).toBe(403)
    })

    it("accepts the daemon's own origin and an origin from allowedOrigins", async () => {
      expect(await upgradeStatus(daemon.wsUrl, { ...bearer(), origin: daemon.origin })).toBe(101)
      expect(await upgradeStatus(daemon.wsUrl, { ...bearer(), origin: ALLOWED_ORIGIN })).toBe(101)
      // an allowed origin still needs the token
      expect(await upgradeStatus(daemon.wsUrl, { origin: ALLOWED_ORIGIN })).toBe(401)
    })
  })

  describe('bad frames get 400 and the socket stays open', () => {
    let s: RawSocket
    beforeAll(async () => {
      s = await open(daemon.wsUrl, bearer())
    })

    const stillWorks = async (requestid: number) => {
      const next = await s.call(requestid, 'node.info')
      expect(next.error).toBeUndefined()
      expect(next.result).toMatchObject({ alias: 'peer-a' })
    }

    it('malformed JSON: requestid null', async () => {
      s.send('{"requestid": 1, "method": ')
      const err = await s.response((f) => f.requestid === null && f.error !== undefined)
      expect(err).toMatchObject({ requestid: null, isresponse: true, error: { code: 400 } })
      expect(err.error?.message).toMatch(/JSON/)
      s.frames.length = 0
      await stillWorks(2)
    })

    it('a frame without a usable requestid: requestid null, message names the field', async () => {
      s.send({ method: 'node.info', params: {} })
      const err = await s.response((f) => f.requestid === null)
      expect(err.error?.code).toBe(400)
      expect(err.error?.message).toMatch(/requestid/)
      s.frames.length = 0
      s.send({ requestid: 'x', method: 'node.info' })
      expect((await s.response((f) => f.requestid === null)).error?.message).toMatch(/requestid/)
      s.frames.length = 0
      await stillWorks(3)
    })

    it('a JSON value that is not an object, and a binary frame', async () => {
      s.send('[1,2,3]')
      expect((await s.response((f) => f.requestid === null)).error?.code).toBe(400)
      s.frames.length = 0
      s.ws.send(Buffer.from('{"requestid":4,"method":"node.info"}'), { binary: true })
      expect((await s.response((f) => f.requestid === null)).error?.code).toBe(400)
      s.frames.length = 0
      await stillWorks(5)
    })

    it('a frame nested too deeply: 400 with its requestid', async () => {
      const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}` // under the frame limit
      s.send(`{"requestid":6,"method":"actors.send","params":{"systemId":"dht:peer-a","event":{"type":"dht.bootstrap","x":${deep}}}}`)
      const err = await s.response((f) => f.requestid === 6)
      expect(err.error?.code).toBe(400)
      expect(err.error?.message).toMatch(/nested/)
      await stillWorks(7)
    })

    it('a frame with too many elements or keys: 413 naming the limit, before it is parsed', async () => {
      const { maxFrameElements, maxFrameKeys } = daemon.core.config
      const zeros = Array(maxFrameElements + 1)
        .fill(0)
        .join(',')
      s.send(`{"requestid":8,"method":"publish","params":{"topic":"t","data":[${zeros}]}}`)
      const elements = await s.response((f) => f.requestid === 8)
      expect(elements.error?.code).toBe(413)
      expect(elements.error?.message).toContain(`more than ${maxFrameElements}`)
      expect(elements.error?.message).toContain('maxFrameElements')
      const keys = Array.from({ length: maxFrameKeys + 1 }, (_, i) => `"${i}":0`).join(',')
      s.send(`{"requestid":9,"method":"publish","params":{"topic":"t","data":{${keys}}}}`)
      const members = await s.response((f) => f.requestid === 9)
      expect(members.error?.code).toBe(413)
      expect(members.error?.message).toContain('maxFrameKeys')
      // brackets, commas and colons inside strings (escaped quotes and backslashes too) are text, not structure
      const text = `[{,:\\"${'[{,:'.repeat(maxFrameElements)}\\\\`
      const quoted = await s.call(14, 'publish', { topic: 'shapes', data: text })
      expect(quoted.error).toBeUndefined()
      // the same shapes just under the limits are parsed: they get past the frame to the method
      const under = Array(maxFrameElements - 16)
        .fill(0)
        .join(',')
      const fine = await s.call(12, 'actors.list', { prefix: 'none:', pad: JSON.parse(`[${under}]`) })
      expect(fine.error?.message ?? '').not.toMatch(/maxFrame/)
      await stillWorks(13)
    })

    it('unknown method: 400 naming the method, requestid echoed', async () => {
      const err = await s.call(10, 'no.such.method')
      expect(err).toMatchObject({ requestid: 10, isresponse: true, error: { code: 400 } })
      expect(err.error?.message).toContain('no.such.method')
      await stillWorks(11)
    })

    it('bad params: 400 naming the field', async () => {
      const wrongType = await s.call(20, 'actors.list', { prefix: 5 })
      expect(wrongType.error?.code).toBe(400)
      expect(wrongType.error?.message).toMatch(/prefix/)

      const missing = await s.call(21, 'actors.unsubscribe', {})
      expect(missing.error?.code).toBe(400)
      expect(missing.error?.message).toMatch(/subscription/)

      const extraEvent = await s.call(22, 'actors.send', { systemId: 'dht:peer-a', event: { kind: 'x' } })
      expect(extraEvent.error?.code).toBe(400)
      expect(extraEvent.error?.message).toMatch(/event/)

      const notObject = await s.call(23, 'node.info', 'hello')
      expect(notObject.error?.code).toBe(400)
      expect(notObject.error?.message).toMatch(/params/)

      const badCid = await s.call(24, 'dht.findProviders', { cid: 'not-a-cid', timeoutMs: 1000 })
      expect(badCid.error?.code).toBe(400)
      expect(badCid.error?.message).toMatch(/cid|CID/)
      await stillWorks(25)
    })
  })

  it('closes the socket with 1009 when a frame is over the size limit', async () => {
    const s = await open(daemon.wsUrl, bearer())
    // a frame under the limit is fine
    expect((await s.call(1, 'actors.list', { prefix: 'x'.repeat(1000) })).result).toEqual({ actors: [] })
    s.send({ requestid: 2, method: 'node.info', params: { pad: 'x'.repeat(100 * 1024) } })
    const { code } = await s.closed
    expect(code).toBe(1009)
    expect(s.frames.some((f) => f.requestid === 2)).toBe(false)
  })

  it('answers a fast request sent after a slow one first: requests run concurrently', async () => {
    const s = await open(daemon.wsUrl, bearer())
    const info = await s.call(1, 'node.info')
    // alone, the DHT never becomes ready: a findProviders waits in its queue until its timeout
    expect((info.result as { dhtReady: boolean }).dhtReady).toBe(false)
    s.frames.length = 0
    const cid = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
    s.send({ requestid: 100, method: 'dht.findProviders', params: { cid, timeoutMs: 5_000 } })
    s.send({ requestid: 101, method: 'node.info', params: {} })
    const slow = await s.response((f) => f.requestid === 100)
    const order = s.frames.filter((f) => f.isresponse).map((f) => f.requestid)
    expect(order).toEqual([101, 100])
    expect(slow.error?.code).toBe(504)
    // the timed-out operation left the DHT's queue
    expect(daemon.core.actors.registry.get('dht:peer-a')?.context).toMatchObject({ queued: 0, running: 0 })
  })

  it('GET /health needs no token and tells nothing secret', async () => {
    const res = await fetch(`${daemon.origin}/health`)
    expect(res.status).toBe(200)
    const text = await res.text()
    expect(JSON.parse(text)).toMatchObject({ status: 'ok' })
    const key = await readFile(join(daemon.dataDir, 'identity.key'))
    for (const secret of [daemon.token, key.toString('base64'), key.toString('hex'), key.subarray(-32).toString('base64')]) {
      expect(text).not.toContain(secret)
    }
    expect(text).not.toMatch(/token|key/i)
  })

  describe('GET /metrics', () => {
    it('needs the token', async () => {
      expect((await fetch(`${daemon.origin}/metrics`)).status).toBe(401)
      expect((await fetch(`${daemon.origin}/metrics?token=${'b'.repeat(64)}`)).status).toBe(401)
    })

    it('shows actors by kind and state, ws clients, requests by method and code, libp2p connections', async () => {
      for (const socket of sockets.splice(0)) await socket.close()
      const s = await open(daemon.wsUrl, bearer())
      await s.call(1, 'node.info')
      await s.call(2, 'no.such.method')
      const scrape = async () => {
        const res = await fetch(`${daemon.origin}/metrics`, { headers: bearer() })
        expect(res.status).toBe(200)
        expect(res.headers.get('content-type')).toMatch(/^text\/plain/)
        return parsePrometheus(await res.text())
      }
      // the server counts a client as gone when its close reaches it
      await vi.waitFor(async () => expect((await scrape()).value('switchboard_ws_clients', {})).toBe(1), { timeout: 10_000 })
      const m = await scrape()
      expect(m.types.get('switchboard_actors')).toBe('gauge')
      expect(m.types.get('switchboard_requests_total')).toBe('counter')
      const dhtState = daemon.core.actors.registry.get('dht:peer-a')?.value
      expect(m.value('switchboard_actors', { kind: 'dht', state: String(dhtState) })).toBe(1)
      expect(m.value('switchboard_actors', { kind: 'node', state: 'running' })).toBe(1)
      expect(m.value('switchboard_actors', { kind: 'supervisor' })).toBe(1)
      expect(m.value('switchboard_requests_total', { method: 'node.info', code: '200' })).toBeGreaterThanOrEqual(1)
      expect(m.value('switchboard_requests_total', { method: '(unknown)', code: '400' })).toBeGreaterThanOrEqual(1)
      expect(m.samples.some((s) => s.labels.method === 'no.such.method')).toBe(false)
      expect(m.value('switchboard_libp2p_connections', { alias: 'peer-a' })).toBe(0)
    })
  })
})

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** Parse Prometheus text format strictly enough that a malformed line fails the test. */
function parsePrometheus(text: string) {
  const types = new Map<string, string>()
  const helps = new Set<string>()
  const samples: Sample[] = []
  const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?(?:\d+(?:\.\d+)?(?:e[+-]?\d+)?|NaN|\+Inf|-Inf))$/
  const labelPair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/y
  expect(text.endsWith('\n')).toBe(true)
  for (const line of text.trimEnd().split('\n')) {
    if (line.startsWith('# HELP ')) {
      helps.add(line.split(' ')[2] ?? '')
      continue
    }
    if (line.startsWith('# TYPE ')) {
      const [, , name = '', type = ''] = line.split(' ')
      expect(['gauge', 'counter', 'histogram', 'summary', 'untyped']).toContain(type)
      types.set(name, type)
      continue
    }
    const m = sampleLine.exec(line)
    expect(m, `not a Prometheus sample line: ${line}`).not.toBeNull()
    const [, name = '', rawLabels = '', value = ''] = m ?? []
    expect(types.has(name), `${name} has no # TYPE line before its samples`).toBe(true)
    expect(helps.has(name), `${name} has no # HELP line`).toBe(true)
    const labels: Record<string, string> = {}
    labelPair.lastIndex = 0
    while (labelPair.lastIndex < rawLabels.length) {
      const pair = labelPair.exec(rawLabels)
      expect(pair, `bad labels in ${line}`).not.toBeNull()
      if (!pair) break
      labels[pair[1] ?? ''] = pair[2] ?? ''
    }
    samples.push({ name, labels, value: Number(value) })
  }
  return {
    types,
    samples,
    /** Sum of the samples of `name` whose labels include `labels`. */
    value(name: string, labels: Record<string, string>): number | undefined {
      const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      return hits.length === 0 ? undefined : hits.reduce((sum, s) => sum + s.value, 0)
    },
  }
}
