import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { STATELY_INSPECTOR_URL } from '../../src/server/inspector-page.ts'
import { launchChromium } from '../support/chromium.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'

/**
 * Stands in for the Stately inspector the page embeds (never fetched: the browser's request is
 * answered here). It behaves as @statelyai/inspect's createBrowserReceiver does: tells its parent
 * `@statelyai.connected`, then keeps every StatelyInspectionEvent posted to it.
 */
const FAKE_INSPECTOR = `<!DOCTYPE html><html><body><script>
  window.got = [];
  window.addEventListener('message', (e) => {
    if (e.data && typeof e.data.type === 'string' && typeof e.data._version === 'string') window.got.push(e.data);
  });
  window.parent.postMessage({ type: '@statelyai.connected' }, '*');
</script></body></html>`

describe('GET /inspect in a real browser (Chromium)', () => {
  let daemon: TestDaemon
  let browser: Browser

  beforeAll(async () => {
    daemon = await startTestDaemon({ inspect: true })
    browser = await launchChromium()
  })
  afterAll(async () => {
    await browser?.close()
    await daemon?.destroy()
  })

  it("forwards the daemon's /inspect stream into the embedded inspector", async () => {
    const page = await browser.newPage()
    let outside = 0
    await page.route('**/*', (route) => {
      const url = route.request().url()
      if (url.startsWith(STATELY_INSPECTOR_URL)) return route.fulfill({ contentType: 'text/html', body: FAKE_INSPECTOR })
      if (new URL(url).hostname === '127.0.0.1') return route.continue()
      outside += 1
      return route.abort()
    })
    await page.goto(`${daemon.origin}/inspect?token=${daemon.token}`)
    await expect.poll(() => page.locator('#status').textContent(), { timeout: 30_000 }).toMatch(/streaming .* \d+ events/)
    const inspector = () => page.frames().find((f) => f.url().startsWith(STATELY_INSPECTOR_URL))
    await expect
      .poll(
        async () =>
          ((await inspector()?.evaluate(() => (window as unknown as { got: Array<{ type: string; name?: string }> }).got)) ?? [])
            .filter((e) => e.type === '@xstate.actor')
            .map((e) => e.name),
        { timeout: 30_000 },
      )
      .toEqual(expect.arrayContaining(['supervisor', 'node:peer-a', 'dht:peer-a']))
    expect(outside).toBe(0)
  })
})
