import type { Socket } from 'node:net'
import websocket from '@fastify/websocket'
import Fastify, { type FastifyInstance } from 'fastify'
import type { WebSocket } from 'ws'
import { appHostingRoutes } from './app-hosting.ts'
import { authorized, originAllowed } from './auth.ts'
import { dashboardRoutes } from './dashboard.ts'
import { examplesRoutes } from './examples.ts'
import { FrameSlicer } from './frame-slicer.ts'
import { httpFilesPlugin } from './http-files.ts'
import { InspectorHub } from './inspector.ts'
import { inspectorPage } from './inspector-page.ts'
import type { ServerDeps } from './method.ts'
import { allMethods } from './methods/index.ts'
import { type Gauge, renderPrometheus } from './metrics.ts'
import { toRpcError } from './rpc-error.ts'
import { Session } from './ws-session.ts'

export interface AppOptions {
  core: ServerDeps
  token: string
  logger?: boolean
}

/** The HTTP face of the daemon: routes and plugins only; booting and closing live in daemon.ts. */
export async function buildApp({ core, token, logger = false }: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger })
  const methods = allMethods()
  const sessions = new Set<Session>()
  const slicer = new FrameSlicer()
  const { config, metrics } = core
  // --inspect: the Stately inspector stream; off, neither the hub nor its routes exist
  const inspector = config.inspect ? new InspectorHub(core.actors.registry, () => core.actors.supervisor) : undefined

  await app.register(websocket, { options: { maxPayload: config.maxFrameBytes }, errorHandler: onSocketError })

  app.get('/health', async () => ({ status: 'ok', version: core.version, nodes: core.nodes.aliases().length }))

  // the dashboard: at / (or /_switchboard/ when an app has /), and its bundle
  await app.register(dashboardRoutes, { token, atRoot: config.app === undefined })
  // --app: a web app directory at /, with single-page fallback; the routes above and below win
  if (config.app !== undefined) await app.register(appHostingRoutes, { token, dir: config.app })

  // the pages in examples/, under the dashboard's rules (token cookie)
  await app.register(examplesRoutes, { token })

  // WebSocket connections open or being upgraded; each TCP socket is counted once, until it closes
  let sockets = 0
  const counted = new WeakSet<Socket>()
  // everything below answers only an allowed origin with the token, and maps errors one way
  await app.register(async (scoped) => {
    scoped.addHook('onRequest', async (req, reply) => {
      if (!originAllowed(req, config.allowedOrigins)) return reply.code(403).send({ error: `origin ${req.headers.origin} is not allowed` })
      if (!authorized(req, token)) return reply.code(401).send({ error: 'missing or wrong token' })
    })
    scoped.setErrorHandler((err: Error, req, reply) => {
      // Fastify's own refusals (a malformed header, a body too large) carry their status
      const status = (err as { statusCode?: unknown }).statusCode
      const e = typeof status === 'number' && status >= 400 && status < 500 ? { code: status, message: err.message } : toRpcError(err)
      // refused before or while a body came in: what is left of it is not read, so the
      // connection cannot carry another request
      if (!req.raw.complete) reply.header('connection', 'close')
      return reply.code(e.code >= 400 && e.code < 600 ? e.code : 500).send({ error: e.message })
    })

    scoped.get('/metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4').send(renderPrometheus(gauges(core))))

    await scoped.register(httpFilesPlugin, { nodes: core.nodes, getFileTimeoutMs: config.getFileTimeoutMs })

    scoped.register(async (ws) => {
      ws.addHook('onRequest', async (req, reply) => {
        const max = config.maxWebSocketConnections
        if (sockets >= max)
          return reply
            .code(503)
            .send({ error: `too many WebSocket connections: ${max} are open (maxWebSocketConnections); try again later` })
        const raw = req.raw.socket
        if (req.headers.upgrade?.toLowerCase() === 'websocket' && !counted.has(raw)) {
          counted.add(raw)
          sockets += 1
          raw.once('close', () => (sockets -= 1))
        }
      })
      ws.get('/ws', { websocket: true }, (socket) => {
        const session = new Session(socket, core, methods, slicer)
        sessions.add(session)
        metrics.wsClients += 1
        socket.on('close', () => {
          sessions.delete(session)
          metrics.wsClients -= 1
        })
      })
      if (inspector) {
        ws.route({
          method: 'GET',
          url: '/inspect',
          handler: (_req, reply) => reply.type('text/html; charset=utf-8').send(inspectorPage()),
          wsHandler: (socket) => inspector.add(socket),
        })
      }
    })
  })

  app.addHook('onClose', async () => {
    inspector?.close()
    await Promise.all([...sessions].map((s) => s.close()))
  })

  return app
}

/**
 * A protocol error from `ws` (a frame over maxPayload: 1009, bad UTF-8: 1007...) has already started
 * the close handshake with its code; terminating here, as the plugin does by default, would destroy
 * the socket before the close frame is flushed and the client would see 1006. Anything else ends it.
 */
function onSocketError(error: Error, socket: WebSocket): void {
  if (/^WS_ERR_/.test(String((error as { code?: unknown }).code))) return
  socket.terminate()
}

function gauges(core: ServerDeps): Gauge[] {
  const actors = [...core.actors.registry.countByKindAndState()].map(([key, value]) => {
    const [kind = '', state = ''] = key.split('\u0000')
    return { labels: { kind, state }, value }
  })
  const requests = [...core.metrics.requests].map(([key, value]) => {
    const [method = '', code = ''] = key.split('\u0000')
    return { labels: { method, code }, value }
  })
  const connections = core.nodes
    .all()
    .flatMap((r) => (r.handle ? [{ labels: { alias: r.spec.alias }, value: r.handle.libp2p.getConnections().length }] : []))
  return [
    { name: 'switchboard_actors', help: 'Live actors by kind and state.', type: 'gauge', samples: actors },
    { name: 'switchboard_ws_clients', help: 'Open WebSocket clients.', type: 'gauge', samples: [{ value: core.metrics.wsClients }] },
    { name: 'switchboard_requests_total', help: 'WebSocket requests by method and result code.', type: 'counter', samples: requests },
    {
      name: 'switchboard_pushes_dropped_total',
      help: 'Pushes dropped for slow clients.',
      type: 'counter',
      samples: [{ value: core.metrics.droppedPushes }],
    },
    {
      name: 'switchboard_slow_clients_closed_total',
      help: 'Clients disconnected (1013) because frames they must get piled up.',
      type: 'counter',
      samples: [{ value: core.metrics.slowClientsClosed }],
    },
    { name: 'switchboard_libp2p_connections', help: 'Open libp2p connections per local peer.', type: 'gauge', samples: connections },
  ]
}
