import './shims.ts'
import { unlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Config } from './config.ts'
import { writeFileAtomic } from './p2p/atomic-file.ts'
import { lockDataDir, loadOrCreateToken, removeOrphanTempFiles } from './p2p/data-dir.ts'
import { loadOrCreateIdentity } from './p2p/identity.ts'
import { buildApp } from './server/app.ts'
import { composeCore, type Core } from './compose.ts'

export class PortRangeExhaustedError extends Error {
  override name = 'PortRangeExhaustedError'
}

/** The HTTP server cannot listen for another reason than a taken port (unknown host, no permission). */
export class HttpListenError extends Error {
  override name = 'HttpListenError'
}

export interface Daemon {
  core: Core
  app: FastifyInstance
  token: string
  port: number
  /** http://host:port */
  origin: string
  /** The dashboard URL with the token, as printed at start. */
  url: string
  peerId: string
  close(): Promise<void>
}

/** Listen on the first free port in [port, portRangeEnd]; port 0 asks the OS for one. */
async function listenInRange(app: FastifyInstance, host: string, first: number, last: number): Promise<number> {
  for (let port = first; port <= last; port++) {
    try {
      await app.listen({ host, port })
      const address = app.server.address()
      return typeof address === 'object' && address !== null ? address.port : port
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || first === 0) {
        throw new HttpListenError(`cannot listen on ${host}:${port}: ${(err as Error).message}`)
      }
    }
  }
  throw new PortRangeExhaustedError(`no free port between ${first} and ${last} on ${host}; pass --port`)
}

/** Boot a daemon: lock the data directory, load identity and token, start peer-a, then HTTP. */
export async function startDaemon(config: Config): Promise<Daemon> {
  const unlock = await lockDataDir(config.dataDir)
  let core: Core | undefined
  let app: FastifyInstance | undefined
  try {
    // ours alone now: what writes killed half-way left behind can go
    await removeOrphanTempFiles(config.dataDir)
    const { privateKey } = await loadOrCreateIdentity(join(config.dataDir, 'identity.key'))
    const token = await loadOrCreateToken(config.dataDir)
    // warnings (corrupt stores moved aside, failed saves) go to stderr unless told to be silent
    core = await composeCore(config, config.logLevel === 'silent' ? () => {} : (m) => console.warn(m))
    const node = await core.nodes.start('peer-a', privateKey, { persistent: true, storageDir: core.nodes.storageDir('peer-a') })
    const server = await buildApp({ core, token })
    app = server
    const port = await listenInRange(server, config.host, config.port, config.portRangeEnd)
    const hostForUrl = config.host.includes(':') ? `[${config.host}]` : config.host
    const origin = `http://${hostForUrl}:${port}`
    const running = core
    // tells `switchboard call` and `status` where this daemon listens
    const runFile = join(config.dataDir, 'daemon.json')
    await writeFileAtomic(runFile, `${JSON.stringify({ pid: process.pid, origin, port, peerId: node.peerId })}\n`)
    let closing: Promise<void> | undefined
    return {
      core: running,
      app: server,
      token,
      port,
      origin,
      url: `${origin}/?token=${token}`,
      peerId: node.peerId ?? '',
      close() {
        // each step runs whatever the one before it did: the saves in shutdown above all
        closing ??= (async () => {
          const closed = await Promise.allSettled([server.close()])
          const shut = await Promise.allSettled([running.shutdown()])
          await unlink(runFile).catch(() => {})
          await unlock()
          for (const r of [...closed, ...shut]) if (r.status === 'rejected') throw r.reason
        })()
        return closing
      },
    }
  } catch (err) {
    await app?.close().catch(() => {})
    await core?.shutdown().catch(() => {})
    await unlock()
    throw err
  }
}
