import { readFile } from 'node:fs/promises'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from '../support/chromium.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'

/** Screenshots kept as test artifacts (test-results/ is gitignored; CI uploads it). */
const shot = (page: Page, name: string) => page.screenshot({ path: `test-results/dashboard-${name}.png`, fullPage: true })

describe('the dashboard in Chromium: two daemons paired through their pages', () => {
  let a: TestDaemon
  let b: TestDaemon
  let browser: Browser
  let pageA: Page
  let pageB: Page
  let bStopped = false

  beforeAll(async () => {
    ;[a, b, browser] = await Promise.all([startTestDaemon(), startTestDaemon(), launchChromium()])
  })
  afterAll(async () => {
    await browser?.close()
    await a?.destroy()
    if (!bStopped) await b?.destroy()
  })

  it('a page without the token explains how to get in', async () => {
    const page = await browser.newPage()
    const res = await page.goto(a.origin)
    expect(res?.status()).toBe(401)
    await expect.poll(() => page.locator('#no-token').textContent()).toContain('switchboard info')
    await shot(page, 'no-token')
    await page.close()
  })

  it('pair through the UI: a ticket created on A, pasted on B; both pages show the other peer connected', async () => {
    // a phone-sized window for A, a desktop one for B
    pageA = await browser.newPage({ viewport: { width: 390, height: 844 } })
    pageB = await browser.newPage({ viewport: { width: 1200, height: 900 } })
    await pageA.goto(a.url)
    await pageB.goto(b.url)
    await expect.poll(() => pageA.locator('#info').textContent(), { timeout: 30_000 }).toContain(a.peerId)
    await expect.poll(() => pageB.locator('#info').textContent(), { timeout: 30_000 }).toContain(b.peerId)

    await pageA.click('nav button[data-view=add]')
    await pageA.fill('#add-name', 'phone A')
    await pageA.click('#create-ticket')
    const ticket = await pageA.locator('#ticket').inputValue()
    expect(ticket.length).toBeGreaterThan(20)
    await expect.poll(() => pageA.locator('.qr svg').count()).toBe(1)
    await shot(pageA, 'add-device-phone')

    await pageB.click('nav button[data-view=join]')
    await pageB.fill('#join-ticket', ticket)
    await pageB.fill('#join-name', 'desk B')
    await pageB.click('#join-button')
    // each side knows the other by the name it gave
    await expect.poll(() => pageB.locator('#joined').textContent(), { timeout: 60_000 }).toContain('Paired with phone A')
    await expect.poll(() => pageA.locator('#pairing-state').textContent(), { timeout: 60_000 }).toBe('paired')

    for (const [page, other] of [
      [pageA, b],
      [pageB, a],
    ] as const) {
      await page.click('nav button[data-view=peers]')
      await expect
        .poll(() => page.locator(`.peer[data-peer="${other.peerId}"]`).getAttribute('data-status'), { timeout: 60_000 })
        .toMatch(/^(connected|syncing)$/)
    }
    await expect.poll(() => pageA.locator(`.peer[data-peer="${b.peerId}"] .name`).textContent(), { timeout: 30_000 }).toBe('desk B')
    // rename B on A's page (the prompt answered), and the activity feed has the pairing
    pageA.once('dialog', (d) => void d.accept('laptop'))
    await pageA.click(`.peer[data-peer="${b.peerId}"] button:text-is("Rename")`)
    await expect.poll(() => pageA.locator(`.peer[data-peer="${b.peerId}"] .name`).textContent(), { timeout: 30_000 }).toBe('laptop')
    await shot(pageA, 'peers-phone')
    await shot(pageB, 'peers-desktop')
    await pageB.click('nav button[data-view=activity]')
    await expect.poll(() => pageB.locator('ul.activity li').count(), { timeout: 30_000 }).toBeGreaterThan(0)
    await shot(pageB, 'activity-desktop')
  })

  it("a topic: subscribed on both pages, published from A's, seen on B's with its members", async () => {
    for (const page of [pageA, pageB]) {
      await page.click('nav button[data-view=topics]')
      await page.fill('#topic-name', 'lobby')
      await page.click('#topic-subscribe')
      await expect.poll(() => page.locator('.topic[data-topic=lobby]').count(), { timeout: 30_000 }).toBe(1)
    }
    const topicB = pageB.locator('.topic[data-topic=lobby] .messages')
    // until GossipSub's mesh holds both daemons a message may go nowhere: say it again
    for (let i = 0; i < 60 && !((await topicB.textContent()) ?? '').includes('hello from A'); i++) {
      await pageA.fill('.topic[data-topic=lobby] .publish-text', 'hello from A')
      await pageA.click('.topic[data-topic=lobby] button.publish')
      await pageB
        .waitForFunction(() => document.querySelector('.topic .messages')?.textContent?.includes('hello from A'), null, { timeout: 500 })
        .catch(() => {})
    }
    expect(await topicB.textContent()).toContain('hello from A')
    // each page lists the other daemon among the topic's members (listpeers, then peerChange pushes)
    await expect
      .poll(() => pageA.locator('.topic[data-topic=lobby] .members').textContent(), { timeout: 30_000 })
      .toContain(b.peerId.slice(-6))
    await expect
      .poll(() => pageB.locator('.topic[data-topic=lobby] .members').textContent(), { timeout: 30_000 })
      .toContain(a.peerId.slice(-6))
    await shot(pageA, 'topic-phone')
    await shot(pageB, 'topic-desktop')
  })

  it("a file uploaded on A's page with its progress bar, in a new folder, browsed to and downloaded on B's", async () => {
    const content = Buffer.alloc(3 * 1024 * 1024, 'switchboard ')
    await pageA.click('nav button[data-view=files]')
    // into a new folder, which the page then shows
    pageA.once('dialog', (d) => void d.accept('docs'))
    await pageA.click('#new-folder')
    await expect.poll(() => pageA.locator('#files p.mono').textContent(), { timeout: 30_000 }).toContain('/docs')
    await pageA.setInputFiles('#upload', { name: 'notes.txt', mimeType: 'text/plain', buffer: content })
    await expect.poll(() => pageA.locator('#upload-progress').getAttribute('value'), { timeout: 60_000 }).toBe('1')
    await expect.poll(() => pageA.locator('#file-list li.file[data-name="notes.txt"]').count(), { timeout: 30_000 }).toBe(1)
    await shot(pageA, 'files-upload-phone')

    await pageB.click('nav button[data-view=files]')
    await pageB.selectOption('#files-owner', a.peerId)
    await pageB.click('#file-list li.dir a', { timeout: 60_000 })
    const link = pageB.locator('#file-list li.file[data-name="notes.txt"] a.download')
    await expect.poll(() => link.count(), { timeout: 60_000 }).toBe(1)
    await shot(pageB, 'files-peer-desktop')
    const [download] = await Promise.all([pageB.waitForEvent('download', { timeout: 60_000 }), link.click()])
    expect(download.suggestedFilename()).toBe('notes.txt')
    const path = await download.path()
    expect((await readFile(path)).equals(content)).toBe(true)
  })

  it("disconnect and connect from B's page: A's card goes disconnected (held), then connected again", async () => {
    await pageB.click('nav button[data-view=peers]')
    const card = pageB.locator(`.peer[data-peer="${a.peerId}"]`)
    await card.locator('button:text-is("Disconnect")').click()
    await expect.poll(() => card.getAttribute('data-status'), { timeout: 30_000 }).toBe('disconnected')
    await shot(pageB, 'peer-disconnected-desktop')
    await card.locator('button:text-is("Connect")').click()
    await expect.poll(() => card.getAttribute('data-status'), { timeout: 60_000 }).toMatch(/^(connected|syncing)$/)
    await expect.poll(() => card.locator('.conntype').textContent(), { timeout: 30_000 }).not.toBe('none')
  })

  it("A's statechart of B's peer actor: the highlighted state changes when B stops; then A forgets B", async () => {
    await pageA.click('nav button[data-view=peers]')
    await pageA.click(`.peer[data-peer="${b.peerId}"] button.chart`)
    const active = () => pageA.locator('#statechart g.state.active').getAttribute('data-state')
    await expect.poll(active, { timeout: 30_000 }).toMatch(/^(connected|syncing)$/)
    expect(await pageA.locator('#statechart g.state').count()).toBeGreaterThan(2)
    expect(await pageA.locator('#actor-context').textContent()).toContain(b.peerId)
    await shot(pageA, 'statechart-connected')
    await b.destroy()
    bStopped = true
    await expect.poll(active, { timeout: 60_000 }).not.toMatch(/^(connected|syncing)$/)
    await shot(pageA, 'statechart-after-stop')
    // forget B on A's page (confirmed): its card goes
    await pageA.click('nav button[data-view=peers]')
    pageA.once('dialog', (d) => void d.accept())
    await pageA.click(`.peer[data-peer="${b.peerId}"] button:text-is("Forget")`)
    await expect.poll(() => pageA.locator(`.peer[data-peer="${b.peerId}"]`).count(), { timeout: 30_000 }).toBe(0)
  })
})
