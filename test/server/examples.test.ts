import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TOKEN_COOKIE } from '../../src/server/auth.ts'
import { examplesRoutes } from '../../src/server/examples.ts'

describe('examples served by the daemon (/examples/<name>/)', () => {
  const token = 'a'.repeat(64)
  const cookie = `${TOKEN_COOKIE}=${token}`
  let root: string
  let app: FastifyInstance

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'sb-examples-'))
    await mkdir(join(root, 'examples', 'chat'), { recursive: true })
    await writeFile(join(root, 'examples', 'chat', 'index.html'), '<p>chat</p>')
    await mkdir(join(root, 'dist', 'examples', 'chat'), { recursive: true })
    await writeFile(join(root, 'dist', 'examples', 'chat', 'app.js'), 'console.log(1)')
    app = Fastify()
    await app.register(examplesRoutes, { token, root })
  })
  afterAll(async () => {
    await app.close()
    await rm(root, { recursive: true, force: true })
  })

  it('?token= sets the HttpOnly cookie and redirects to the address without it, other parameters kept', async () => {
    const res = await app.inject({ url: `/examples/chat/?token=${token}&daemon=x` })
    expect(res.statusCode).toBe(302)
    expect(res.headers.location).toBe('/examples/chat/?daemon=x')
    expect(String(res.headers['set-cookie'])).toContain(`${cookie}; HttpOnly; SameSite=Strict; Path=/`)
  })

  it('serves the page and its bundle to the cookie, and nothing without the token', async () => {
    const page = await app.inject({ url: '/examples/chat/', headers: { cookie } })
    expect(page.statusCode).toBe(200)
    expect(page.headers['content-type']).toContain('text/html')
    expect(page.body).toBe('<p>chat</p>')
    const js = await app.inject({ url: '/examples/chat/app.js', headers: { cookie } })
    expect(js.statusCode).toBe(200)
    expect(js.headers['content-type']).toContain('text/javascript')
    expect((await app.inject({ url: '/examples/chat/' })).statusCode).toBe(401)
    expect((await app.inject({ url: '/examples/chat/app.js' })).statusCode).toBe(401)
    expect((await app.inject({ url: `/examples/chat/?token=${'b'.repeat(64)}` })).statusCode).toBe(401)
  })

  it('a missing example, a file outside the bundle names, or an unbuilt bundle is a 404', async () => {
    expect((await app.inject({ url: '/examples/nope/', headers: { cookie } })).statusCode).toBe(404)
    expect((await app.inject({ url: '/examples/chat/index.html', headers: { cookie } })).statusCode).toBe(404)
    expect((await app.inject({ url: '/examples/chat/..%2f..%2fpackage.json', headers: { cookie } })).statusCode).toBe(404)
    const unbuilt = await app.inject({ url: '/examples/chat/other.js', headers: { cookie } })
    expect(unbuilt.statusCode).toBe(404)
    expect(unbuilt.body).toContain('npm run build:examples')
    const bare = await app.inject({ url: '/examples/chat?x=1', headers: { cookie } })
    expect(bare.statusCode).toBe(302)
    expect(bare.headers.location).toBe('/examples/chat/?x=1')
  })
})
