import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from '../support/chromium.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'

describe('in a real browser (Chromium)', () => {
  let daemon: TestDaemon
  let browser: Browser

  beforeAll(async () => {
    daemon = await startTestDaemon()
    browser = await launchChromium()
  })
  afterAll(async () => {
    await browser?.close()
    await daemon?.destroy()
  })

  it('the printed URL sets the token cookie and the dashboard shows the live actor tree', async () => {
    const page = await browser.newPage()
    // the dashboard opens on its peers view; #actors is the statecharts view's list of actors
    await page.goto(`${daemon.url}#actors`)
    // the token left the address bar: it now lives in an HttpOnly cookie
    expect(new URL(page.url()).search).toBe('')
    const cookies = await page.context().cookies()
    const cookie = cookies.find((c) => c.name === 'switchboard_token')
    expect(cookie?.httpOnly).toBe(true)
    expect(cookie?.sameSite).toBe('Strict')
    await expect.poll(() => page.locator('#info').textContent(), { timeout: 30_000 }).toContain(daemon.peerId)
    await expect.poll(() => page.locator('#actors').textContent(), { timeout: 30_000 }).toContain('dht:peer-a')
  })

  it('a page holding the cookie talks the p2p-webapp protocol with a plain new WebSocket(ws://host/ws)', async () => {
    const page = await browser.newPage()
    await page.goto(daemon.url)
    // two "tabs" in one page: each socket gets its own session peer, as p2p-webapp gives each tab
    const result = await page.evaluate(async () => {
      const open = () =>
        new Promise<WebSocket>((resolve, reject) => {
          const ws = new WebSocket(`ws://${location.host}/ws`)
          ws.onopen = () => resolve(ws)
          ws.onerror = () => reject(new Error('websocket refused'))
        })
      let id = 0
      const call = (ws: WebSocket, method: string, params: unknown) =>
        new Promise<unknown>((resolve, reject) => {
          const requestid = id++
          const onMessage = (m: MessageEvent) => {
            const f = JSON.parse(m.data as string)
            if (!f.isresponse || f.requestid !== requestid) return
            ws.removeEventListener('message', onMessage)
            if (f.error) reject(new Error(`${f.error.code}: ${f.error.message}`))
            else resolve(f.result)
          }
          ws.addEventListener('message', onMessage)
          ws.send(JSON.stringify({ requestid, method, params }))
        })
      const push = (ws: WebSocket, method: string, where: (params: unknown) => boolean = () => true) =>
        new Promise<unknown>((resolve) => {
          const onMessage = (m: MessageEvent) => {
            const f = JSON.parse(m.data as string)
            if (f.isresponse || f.method !== method || !where(f.params)) return
            ws.removeEventListener('message', onMessage)
            resolve(f.params)
          }
          ws.addEventListener('message', onMessage)
        })
      const tab1 = await open()
      const tab2 = await open()
      const p1 = (await call(tab1, 'peer', {})) as { peerid: string }
      const p2 = (await call(tab2, 'peer', {})) as { peerid: string }
      // as an app does: publish once the other tab is on the topic (its peerChange), since GossipSub
      // sends a message only to the subscribers it knows, and the session peers meet in the background
      const tab2Joined = push(tab1, 'peerChange', (p) => {
        const change = p as { peerid: string; joined: boolean }
        return change.peerid === p2.peerid && change.joined
      })
      await call(tab1, 'subscribe', { topic: 'chat' })
      await call(tab2, 'subscribe', { topic: 'chat' })
      await tab2Joined
      const got = push(tab2, 'topicData')
      await call(tab1, 'publish', { topic: 'chat', data: { text: 'hello from tab 1' } })
      const message = await got
      await call(tab1, 'start', { protocol: 'chat' })
      await call(tab2, 'start', { protocol: 'chat' })
      const ack = push(tab1, 'ack')
      const delivered = push(tab2, 'peerData')
      await call(tab1, 'send', { peer: p2.peerid, protocol: 'chat', data: 'direct hello', ack: 0 })
      return { p1: p1.peerid, p2: p2.peerid, message, ack: await ack, peerData: await delivered }
    })
    expect(result.message).toEqual({ topic: 'chat', peerid: result.p1, data: { text: 'hello from tab 1' } })
    expect(result.ack).toEqual({ ack: 0, delivered: true })
    expect(result.peerData).toEqual({ peer: result.p1, protocol: 'chat', data: 'direct hello' })
  })

  it('shows client-chosen names as text: a topic named like markup does not run in the dashboard', async () => {
    const client = await daemon.client()
    const topic = '<img src=x onerror="window.__pwned=1">'
    await client.call('subscribe', { topic })
    const page = await browser.newPage()
    await page.goto(`${daemon.url}#actors`)
    await expect.poll(() => page.locator('#actors').textContent(), { timeout: 30_000 }).toContain(`topic:peer-a:${topic}`)
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined()
    expect(await page.locator('#actors img').count()).toBe(0)
  })

  it('a page from another origin cannot open the socket, even holding the token', async () => {
    const page = await browser.newPage()
    await page.goto('about:blank')
    const outcome = await page.evaluate(
      async ({ url, token }) => {
        return new Promise<string>((resolve) => {
          const ws = new WebSocket(`${url}?token=${token}`)
          ws.onopen = () => resolve('open')
          ws.onerror = () => resolve('refused')
        })
      },
      { url: daemon.wsUrl, token: daemon.token },
    )
    expect(outcome).toBe('refused')
  })
})
