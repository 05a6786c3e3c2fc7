import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from '../support/chromium.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** The client library bundled for a browser, as a script that sets `window.sb` to its exports. */
async function bundle(): Promise<string> {
  const out = await build({
    stdin: {
      contents: `export * from './src/client/index.ts'; export { connect as connectWebapp, P2PWebAppClient } from './src/client/p2p-webapp.ts'`,
      resolveDir: ROOT,
      loader: 'ts',
    },
    bundle: true,
    platform: 'browser',
    format: 'iife',
    globalName: 'sb',
    write: false,
    logLevel: 'silent',
  })
  return out.outputFiles[0]?.text ?? ''
}

describe('the client library in a real browser (Chromium)', () => {
  let daemon: TestDaemon
  let browser: Browser
  let script: string

  beforeAll(async () => {
    ;[daemon, browser, script] = await Promise.all([startTestDaemon(), launchChromium(), bundle()])
  })
  afterAll(async () => {
    await browser?.close()
    await daemon?.destroy()
  })

  it("on a page the daemon served: /ws of the page's host and its cookie by default; typed calls, pushes, the facade", async () => {
    const page = await browser.newPage()
    await page.goto(daemon.url)
    await page.addScriptTag({ content: script })
    const result = await page.evaluate(async () => {
      type Lib = typeof import('../../src/client/index.ts') & typeof import('../../src/client/p2p-webapp.ts')
      const lib = (window as unknown as { sb: Lib & { connectWebapp: Lib['connect'] } }).sb
      const client = new lib.SwitchboardClient()
      await client.ready()
      const info = await client.call('node.info')
      const states: string[] = []
      client.on('state', (e) => states.push(e.state))
      // two p2p-webapp-style tabs on the page, chatting on a topic
      const [t1, t2] = await Promise.all([lib.connectWebapp(), lib.connectWebapp()])
      const got = new Promise<[string, unknown]>((resolve) => {
        void t2.subscribe('browser-room', (peer, data) => resolve([peer, data]))
      })
      await t1.subscribe('browser-room', () => {})
      const heard: [string, unknown][] = []
      for (let i = 0; i < 100 && heard.length === 0; i++) {
        await t1.publish('browser-room', { text: 'from tab 1', i })
        const r = await Promise.race([got, new Promise<null>((resolve) => setTimeout(() => resolve(null), 200))])
        if (r) heard.push(r)
      }
      const timeout = await client
        .call('subscribe', { topic: 'slow' }, { timeoutMs: 20 })
        .catch((e: { code: number; name: string }) => [e.name, e.code])
      client.close()
      return { url: client.url, alias: info.alias, t1: t1.peerID, t2: t2.peerID, heard: heard[0], states, timeout }
    })
    expect(result.url).toBe(`${daemon.origin.replace(/^http/, 'ws')}/ws`)
    expect(result.alias).toBe('peer-a')
    expect(result.t1).not.toBe(result.t2)
    expect(result.heard).toEqual([result.t1, { text: 'from tab 1', i: expect.any(Number) }])
    expect(result.states).toEqual(['closed'])
    expect(result.timeout).toEqual(['SwitchboardTimeoutError', 504])
  })
})
