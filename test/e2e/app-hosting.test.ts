import { cp, mkdir, symlink, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError } from '../../src/config.ts'
import { launchChromium } from '../support/chromium.ts'
import { startTestDaemon, type TestDaemon, tempDir } from '../support/daemon.ts'

const FIXTURE = fileURLToPath(new URL('../fixtures/p2p-webapp-app', import.meta.url))

/** A raw GET with the path exactly as given (fetch would normalise `..` away). */
function get(
  origin: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const { hostname, port } = new URL(origin)
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, headers }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('switchboard start --app <dir>: a p2p-webapp app directory served at /', () => {
  let daemon: TestDaemon
  let appDir: string
  let cookie: string
  const html = { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' }

  beforeAll(async () => {
    // the fixture, plus what a traversal would be after: a secret beside the app and a symlink out of it
    const base = await tempDir('sb-app-')
    // p2p-webapp's layout: the site in html/, the client library copied beside the app's files;
    // here that library is Switchboard's facade, bundled as p2p-webapp ships its own (one ES module)
    const top = join(base, 'p2p-app')
    await cp(FIXTURE, top, { recursive: true })
    appDir = join(top, 'html')
    await build({
      entryPoints: [fileURLToPath(new URL('../../src/client/p2p-webapp.ts', import.meta.url))],
      outfile: join(appDir, 'client.js'),
      bundle: true,
      format: 'esm',
      platform: 'browser',
      logLevel: 'silent',
    })
    await writeFile(join(base, 'secret.txt'), 'TOP SECRET')
    await writeFile(join(top, 'secret.txt'), 'TOP SECRET')
    await symlink(join(base, 'secret.txt'), join(appDir, 'leak.txt'))
    await mkdir(join(appDir, 'assets'))
    await writeFile(join(appDir, 'assets', 'data.json'), '{"ok":true}')
    await writeFile(join(appDir, '.env'), 'HIDDEN=1')
    // given the p2p-webapp directory itself, as `p2p-webapp --dir` takes it
    daemon = await startTestDaemon({ app: top })
    const res = await get(daemon.origin, `/?token=${daemon.token}`)
    cookie = String(res.headers['set-cookie']).split(';')[0] as string
  })
  afterAll(async () => {
    await daemon?.destroy()
  })

  it('the start-up URL sets the cookie and redirects to the app, other query parameters kept', async () => {
    const res = await get(daemon.origin, `/?room=7&token=${daemon.token}`)
    expect(res.status).toBe(302)
    expect(res.headers.location).toBe('/?room=7')
    expect(String(res.headers['set-cookie'])).toMatch(/^switchboard_token=.+; HttpOnly; SameSite=Strict; Path=\//)
    const page = await get(daemon.origin, '/', { ...html, cookie })
    expect(page.status).toBe(200)
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(page.body).toContain('<title>Chat room (a p2p-webapp app)</title>')
  })

  it('without the token: 401, and a browser is told how to get in', async () => {
    const page = await get(daemon.origin, '/', html)
    expect(page.status).toBe(401)
    expect(page.body).toContain('switchboard info')
    expect(page.body).toContain('?token=')
    expect((await get(daemon.origin, '/app.js')).status).toBe(401)
  })

  it('files with their content types, no sniffing, no directory listing', async () => {
    const cases: [string, string][] = [
      ['/app.js', 'text/javascript; charset=utf-8'],
      ['/client.js', 'text/javascript; charset=utf-8'],
      ['/style.css', 'text/css; charset=utf-8'],
      ['/logo.svg', 'image/svg+xml'],
      ['/assets/data.json', 'application/json; charset=utf-8'],
      ['/index.html', 'text/html; charset=utf-8'],
    ]
    for (const [path, type] of cases) {
      const res = await get(daemon.origin, path, { cookie })
      expect(res.status, path).toBe(200)
      expect(res.headers['content-type'], path).toBe(type)
      expect(res.headers['x-content-type-options'], path).toBe('nosniff')
    }
    // a directory without index.html: a script asking gets 404, a browser the app (never a listing)
    const dir = await get(daemon.origin, '/assets/', { cookie })
    expect(dir.status).toBe(404)
    expect(dir.body).not.toContain('data.json')
    const nav = await get(daemon.origin, '/assets/', { ...html, cookie })
    expect(nav.status).toBe(200)
    expect(nav.body).toContain('Chat room')
    expect(nav.body).not.toContain('data.json')
  })

  it('single-page fallback: a navigation to an unknown path gets index.html, a missing asset 404', async () => {
    const nav = await get(daemon.origin, '/rooms/42/members', { ...html, cookie })
    expect(nav.status).toBe(200)
    expect(nav.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(nav.body).toContain('Chat room')
    const asset = await get(daemon.origin, '/missing.js', { accept: '*/*', cookie })
    expect(asset.status).toBe(404)
  })

  it('path traversal is refused: .., encoded separators, dot-files and symlinks out of the directory', async () => {
    for (const path of [
      '/../secret.txt',
      '/../../secret.txt',
      '/%2e%2e/secret.txt',
      '/..%2fsecret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/assets/%2e%2e/%2e%2e/secret.txt',
      '/..%5csecret.txt',
      '/leak.txt',
      '/.env',
      '/%00index.html',
      '/%zz',
    ]) {
      const res = await get(daemon.origin, path, { accept: '*/*', cookie })
      // a malformed escape is refused by Fastify itself (400), the rest by the app route (404)
      expect([400, 404], path).toContain(res.status)
      expect(res.body, path).not.toContain('TOP SECRET')
      expect(res.body, path).not.toContain('HIDDEN')
      // a browser's navigation falls back to nothing either: refused outright
      const nav = await get(daemon.origin, path, { ...html, cookie })
      expect(nav.body, path).not.toContain('TOP SECRET')
    }
  })

  it("the daemon's own routes keep their answers; the dashboard moves to /_switchboard/", async () => {
    const health = await get(daemon.origin, '/health', html)
    expect(JSON.parse(health.body)).toMatchObject({ status: 'ok' })
    const metrics = await get(daemon.origin, '/metrics', { ...html, cookie })
    expect(metrics.body).toContain('switchboard_ws_clients')
    const files = await get(daemon.origin, '/files/peer-a/nothing-here', { ...html, cookie })
    expect(files.status).toBe(404)
    expect(files.body).not.toContain('Chat room')
    const ws = await get(daemon.origin, '/ws', { ...html, cookie })
    expect(ws.body).not.toContain('Chat room')
    expect((await get(daemon.origin, '/examples/nothing/', { ...html, cookie })).body).not.toContain('Chat room')
    const dash = await get(daemon.origin, '/_switchboard/', { ...html, cookie })
    expect(dash.status).toBe(200)
    expect(dash.body).toContain('<title>Switchboard</title>')
    const dashToken = await get(daemon.origin, `/_switchboard/?token=${daemon.token}`)
    expect(dashToken.status).toBe(302)
    expect(dashToken.headers.location).toBe('/_switchboard/')
    expect((await get(daemon.origin, '/_switchboard/', html)).status).toBe(401)
  })

  it('a directory that does not exist or has no index.html stops the start with a ConfigError', async () => {
    await expect(startTestDaemon({ app: join(appDir, 'nope') })).rejects.toThrow(ConfigError)
    await expect(startTestDaemon({ app: join(appDir, 'assets') })).rejects.toThrow(/has no index.html/)
    // a plain directory with index.html is served as it is
    const flat = await startTestDaemon({ app: appDir })
    const res = await get(flat.origin, '/logo.svg', { cookie: `switchboard_token=${flat.token}` })
    await flat.destroy()
    expect(res.headers['content-type']).toBe('image/svg+xml')
  })

  describe('in Chromium', () => {
    let browser: Browser
    beforeAll(async () => {
      browser = await launchChromium()
    })
    afterAll(async () => {
      await browser?.close()
    })

    it('the unmodified app chats between two tabs through the facade, the second opened on a client-side route', async () => {
      const context = await browser.newContext()
      const tab1 = await context.newPage()
      await tab1.goto(daemon.url)
      expect(new URL(tab1.url()).pathname).toBe('/')
      expect(new URL(tab1.url()).search).toBe('')
      const tab2 = await context.newPage()
      await tab2.goto(`${daemon.origin}/rooms/lobby`)
      for (const tab of [tab1, tab2])
        await expect.poll(() => tab.locator('body').getAttribute('data-ready'), { timeout: 30_000 }).toBe('yes')
      const me1 = (await tab1.locator('#me').textContent()) ?? ''
      const me2 = (await tab2.locator('#me').textContent()) ?? ''
      expect(me1).not.toBe(me2)
      // until the topic's mesh has both session peers, a message may go nowhere: say it again
      const heard = async (tab: typeof tab1, text: string) => ((await tab.locator('#messages').textContent()) ?? '').includes(text)
      for (let i = 0; i < 50 && !(await heard(tab2, 'hello from tab 1')); i++) {
        await tab1.fill('#text', 'hello from tab 1')
        await tab1.click('button')
        await tab2
          .waitForFunction(() => document.getElementById('messages')?.textContent?.includes('hello from tab 1'), null, { timeout: 500 })
          .catch(() => {})
      }
      expect(await tab2.locator('#messages').textContent()).toContain(`${me1.slice(-6)}: hello from tab 1`)
      await tab2.fill('#text', 'hello back')
      await tab2.click('button')
      await expect.poll(() => tab1.locator('#messages').textContent(), { timeout: 30_000 }).toContain(`${me2.slice(-6)}: hello back`)
      await tab1.screenshot({ path: 'test-results/app-hosting-tab1.png' })
      await tab2.screenshot({ path: 'test-results/app-hosting-tab2.png' })
      // the dashboard beside the app, with the same cookie
      const dash = await context.newPage()
      await dash.goto(`${daemon.origin}/_switchboard/#actors`)
      await expect.poll(() => dash.locator('#info').textContent(), { timeout: 30_000 }).toContain(daemon.peerId)
      await expect.poll(() => dash.locator('#actors').textContent(), { timeout: 30_000 }).toContain('node:peer-a')
      await dash.screenshot({ path: 'test-results/app-hosting-dashboard.png' })
      await context.close()
    })
  })
})
