import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildExamples } from '../../scripts/build-examples.ts'
import { createNetns, launchChromiumIn, type Netns, type NetnsDaemon, netnsUnavailable, startDaemonIn } from '../support/netns.ts'
import { installPageRpc } from '../support/page-rpc.ts'

/**
 * Two pages with the stock js-libp2p node of examples/browser-chat, in real Chromium, in a network
 * namespace of their own with the daemon (default configuration, its own process): WebRTC needs a
 * non-loopback interface, which the namespace gives without touching the host's networks.
 */
const unavailable = await netnsUnavailable()
if (unavailable) console.warn(`browser-relay tests skipped: ${unavailable}`)

describe.skipIf(unavailable !== undefined)(`browsers through the daemon's relay${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let ns: Netns | undefined
  let daemon: NetnsDaemon | undefined
  let browser: Browser | undefined
  let control: Page
  let a: Page
  let b: Page

  const openChat = async () => {
    const page = await browser!.newPage()
    page.on('pageerror', (err) => console.error(`page error: ${err.message}`))
    await page.goto(`${daemon!.origin}/examples/browser-chat/?token=${daemon!.token}`)
    // the token went into the cookie and left the address bar
    expect(new URL(page.url()).search).toBe('')
    await page.evaluate(() => window.chatReady!.then(() => undefined))
    return page
  }
  const peerIdOf = (page: Page) => page.evaluate(() => window.chat!.peerId)

  beforeAll(async () => {
    try {
      await buildExamples()
      ns = await createNetns()
      daemon = await startDaemonIn(ns)
      browser = await launchChromiumIn(ns)
      // the test's WebSocket client: a page of the daemon's origin, inside the namespace like the daemon
      control = await browser.newPage()
      await control.goto(daemon.url)
      await installPageRpc(control)
      await control.evaluate(() => window.sb!.call('actors.subscribe', { prefix: 'relay:' }))
      a = await openChat()
      b = await openChat()
    } catch (err) {
      console.error(daemon?.stdout(), daemon?.stderr())
      throw err
    }
  }, 60_000)

  afterAll(async () => {
    await browser?.close().catch(() => {})
    await daemon?.stop().catch(() => {})
    await ns?.destroy()
  })

  it('two pages get relay addresses through the daemon and upgrade to a direct WebRTC connection', async () => {
    const [relayA, relayB] = await Promise.all([a, b].map((p) => p.evaluate(() => window.chat!.reserved)))
    expect(relayA).toContain(`/p2p/${daemon!.peerId}/p2p-circuit/webrtc/p2p/`)
    expect(relayB).toContain(`/p2p/${daemon!.peerId}/p2p-circuit/webrtc/p2p/`)

    const [idA, idB] = await Promise.all([peerIdOf(a), peerIdOf(b)])
    const [fromA, fromB] = await Promise.all([a, b].map((p) => p.evaluate(() => window.chat!.webrtc)))
    expect(fromA!.peerId).toBe(idB)
    expect(fromB!.peerId).toBe(idA)
    // each side's connection is WebRTC and carries no relay limits; the dialler names it by the
    // address it dialled (<daemon>/p2p-circuit/webrtc/p2p/<peer>), the answerer by /webrtc/p2p/<peer>
    // alone: signalled through the daemon's relay, then browser to browser
    const views = [
      { c: fromA!, self: idA, other: idB },
      { c: fromB!, self: idB, other: idA },
    ]
    for (const { c, other } of views) {
      expect(c.webrtc).toBe(true)
      expect(c.limited).toBe(false)
      expect(c.remoteAddr.endsWith(`/webrtc/p2p/${other}`)).toBe(true)
    }
    const answerers = views.filter((v) => v.c.remoteAddr === `/webrtc/p2p/${v.other}`)
    expect(answerers).toHaveLength(1)
    const dialler = views.find((v) => v !== answerers[0])!
    expect(dialler.c.remoteAddr).toContain(`/p2p/${daemon!.peerId}/p2p-circuit/webrtc/p2p/${dialler.other}`)

    // they talk over it: a direct stream each way
    const gotB = b.evaluate(() => window.chat!.nextMessage({ via: 'direct', text: 'hello b, from a' }))
    await a.evaluate((peer) => window.chat!.sendDirect(peer, 'hello b, from a'), idB)
    expect((await gotB).from).toBe(idA)
    const gotA = a.evaluate(() => window.chat!.nextMessage({ via: 'direct', text: 'hello a, from b' }))
    await b.evaluate((peer) => window.chat!.sendDirect(peer, 'hello a, from b'), idA)
    expect((await gotA).from).toBe(idB)

    // the daemon's relay actor held both reservations and relayed the signalling circuit
    await control.waitForFunction(
      () =>
        window.sb!.pushes.some(
          (p) =>
            p.method === 'actor.snapshot' &&
            p.params.systemId === 'relay:peer-a' &&
            (p.params.context as { reservations: number }).reservations >= 2,
        ),
      undefined,
      { timeout: 20_000 },
    )
    await control.waitForFunction(
      () =>
        window.sb!.pushes.some(
          (p) =>
            p.method === 'actor.snapshot' &&
            p.params.systemId === 'relay:peer-a' &&
            (p.params.context as { circuitsTotal: number }).circuitsTotal >= 1,
        ),
      undefined,
      { timeout: 20_000 },
    )

    // and it has a peer actor for each page: connected, directly (the pages dialled its /ws)
    const { actors } = (await control.evaluate(() => window.sb!.call('actors.list', { prefix: 'peer:peer-a:' }))) as {
      actors: Array<{ systemId: string; tags: string[]; context: { connectionType: string } }>
    }
    for (const id of [idA, idB]) {
      const actor = actors.find((x) => x.systemId === `peer:peer-a:${id}`)
      expect(actor?.tags).toContain('status:connected')
      expect(actor?.context.connectionType).toBe('direct')
    }
  }, 60_000)

  it('a page and a WebSocket client exchange topic messages both ways, JSON and plain text, at no reputation cost', async () => {
    const topic = 'browser-chat'
    const idA = await peerIdOf(a)
    await control.evaluate((t) => window.sb!.call('subscribe', { topic: t }), topic)
    // the daemon (its gossip hub, and now this client's subscription) is in the page's view of the topic
    await a.waitForFunction(
      ({ t, d }) =>
        (window.chat!.node.services.pubsub as { getSubscribers(t: string): unknown[] }).getSubscribers(t).map(String).includes(d),
      { t: topic, d: daemon!.peerId },
      { timeout: 20_000 },
    )

    // page -> client: JSON as a value (no encoding), plain text as text, a dozen of them
    await a.evaluate((t) => window.chat!.publish(t, JSON.stringify({ hello: 'json' })), topic)
    const texts = Array.from({ length: 12 }, (_, i) => `plain hello ${i}`)
    for (const text of texts) await a.evaluate(({ t, text }) => window.chat!.publish(t, text), { t: topic, text })
    await control.waitForFunction(
      (n) => window.sb!.pushes.filter((p) => p.method === 'topicData' && p.params.encoding === 'text').length >= n,
      texts.length,
      { timeout: 20_000 },
    )
    const data = await control.evaluate(() => window.sb!.pushes.filter((p) => p.method === 'topicData').map((p) => p.params))
    expect(data).toContainEqual({ topic, peerid: idA, data: { hello: 'json' } })
    for (const text of texts) expect(data).toContainEqual({ topic, peerid: idA, data: text, encoding: 'text' })

    // client -> page: JSON arrives as its JSON text, encoding text as the exact string
    const json = a.evaluate((t) => window.chat!.nextMessage({ topic: t, text: '{"from":"client"}' }), topic)
    await control.evaluate((t) => window.sb!.call('publish', { topic: t, data: { from: 'client' } }), topic)
    expect((await json).from).toBe(daemon!.peerId)
    const plain = a.evaluate((t) => window.chat!.nextMessage({ topic: t, text: 'plain from the client' }), topic)
    await control.evaluate((t) => window.sb!.call('publish', { topic: t, data: 'plain from the client', encoding: 'text' }), topic)
    expect((await plain).text).toBe('plain from the client')

    // none of it cost the page reputation
    const { peers } = (await control.evaluate(() => window.sb!.call('reputation.list'))) as {
      peers: Array<{ peerId: string; score: number }>
    }
    expect(peers.find((p) => p.peerId === idA)?.score ?? 0).toBeGreaterThanOrEqual(0)
    // and the page is still connected to the daemon
    const conns = await a.evaluate(() => window.chat!.connections())
    expect(conns.map((c) => c.peerId)).toContain(daemon!.peerId)
  }, 60_000)
})
