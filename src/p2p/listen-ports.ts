import { createSocket } from 'node:dgram'
import { type AddressInfo, createServer } from 'node:net'
import { type Static, Type } from '@sinclair/typebox'
import { jsonFile } from './json-file.ts'

/** The kinds of listener whose port can be pinned: plain TCP, WebSockets, secure WebSockets, WebRTC-direct. */
export type ListenKind = 'tcp' | 'ws' | 'wss' | 'webrtc-direct'

/** A listen address taken apart: `/<family>/<host>/<proto>/<port><rest>`. */
interface ListenParts {
  family: string
  host: string
  proto: 'tcp' | 'udp'
  port: number
  /** What follows the port, without certhash or peer id, `/wss` written `/tls/ws`: '' | '/ws' | '/tls/ws' | '/webrtc-direct' | ... */
  rest: string
}

function parts(addr: string): ListenParts | undefined {
  const m = /^\/(ip4|ip6|dns|dns4|dns6)\/([^/]+)\/(tcp|udp)\/(\d+)(.*)$/.exec(addr)
  if (!m) return undefined
  const rest = (m[5] ?? '')
    .replace(/\/certhash\/[^/]+/g, '')
    .replace(/\/p2p\/[^/]+$/, '')
    .replace(/\/wss$/, '/tls/ws')
  return { family: m[1] as string, host: m[2] as string, proto: m[3] as 'tcp' | 'udp', port: Number(m[4]), rest }
}

/** Which pinnable listener `addr` is, if any. */
export function listenKind(addr: string): ListenKind | undefined {
  const p = parts(addr)
  if (!p) return undefined
  if (p.proto === 'tcp' && p.rest === '') return 'tcp'
  if (p.proto === 'tcp' && p.rest === '/ws') return 'ws'
  if (p.proto === 'tcp' && p.rest === '/tls/ws') return 'wss'
  if (p.proto === 'udp' && p.rest === '/webrtc-direct') return 'webrtc-direct'
  return undefined
}

const withPort = (addr: string, port: number) => addr.replace(/\/(tcp|udp)\/\d+/, (_, proto: string) => `/${proto}/${port}`)

/** The port a listener of each kind must use (`--tcp-port`, `--ws-port`, `--webrtc-port`, `--wss-port`). */
export type PinnedPorts = Partial<Record<ListenKind, number>>

/** `listen` with the port of every listener of a pinned kind replaced by the pinned one. */
export function pinListenPorts(listen: readonly string[], pinned: PinnedPorts): string[] {
  return listen.map((addr) => {
    const kind = listenKind(addr)
    const port = kind === undefined ? undefined : pinned[kind]
    return port === undefined ? addr : withPort(addr, port)
  })
}

/**
 * `listen` with a secure WebSockets listener when there is none: on the host of the first `/ws`
 * listener (else every IPv4 interface), port `port` (0: chosen once, then kept; see ListenPorts).
 */
export function withSecureWebSockets(listen: readonly string[], port = 0): string[] {
  if (listen.some((a) => listenKind(a) === 'wss')) return [...listen]
  const ws = listen.map(parts).find((p) => p !== undefined && p.proto === 'tcp' && p.rest === '/ws')
  return [...listen, `/${ws?.family ?? 'ip4'}/${ws?.host ?? '0.0.0.0'}/tcp/${port}/tls/ws`]
}

const WILDCARD = new Set(['0.0.0.0', '::'])

/** The port the listener opened for `listen` got, read from the node's transport addresses; undefined if none matches. */
export function boundPort(listen: string, transportAddrs: readonly string[]): number | undefined {
  const l = parts(listen)
  if (!l) return undefined
  for (const addr of transportAddrs) {
    const a = parts(addr)
    if (!a || a.family !== l.family || a.proto !== l.proto || a.rest !== l.rest) continue
    if (a.host === l.host || WILDCARD.has(l.host)) return a.port
  }
  return undefined
}

/** Bind `port` (0: any) on `host`, let go, and answer the port bound; undefined when it cannot be bound. */
function bindAndRelease(proto: 'tcp' | 'udp', host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    if (proto === 'tcp') {
      const server = createServer()
      server.once('error', () => resolve(undefined))
      server.listen({ host, port, exclusive: true }, () => {
        const bound = (server.address() as AddressInfo).port
        server.close(() => resolve(bound))
      })
      return
    }
    const socket = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4' })
    socket.once('error', () => {
      socket.close()
      resolve(undefined)
    })
    socket.bind({ address: host, port, exclusive: true }, () => {
      const bound = socket.address().port
      socket.close(() => resolve(bound))
    })
  })
}

/** Whether `port` can be bound on `host` right now (TCP or UDP), by binding it and letting go. */
export async function portFree(proto: 'tcp' | 'udp', host: string, port: number): Promise<boolean> {
  return (await bindAndRelease(proto, host, port)) !== undefined
}

/** A port the OS gives out for `host` now, other than those in `avoid`. */
export async function freshPort(proto: 'tcp' | 'udp', host: string, avoid: ReadonlySet<number>): Promise<number> {
  for (let tries = 0; ; tries++) {
    const port = await bindAndRelease(proto, host, 0)
    if (port === undefined) throw new Error(`no ${proto.toUpperCase()} port can be bound on ${host}`)
    if (!avoid.has(port) || tries >= 20) return port
  }
}

const PortsSchema = Type.Object({ ports: Type.Record(Type.String(), Type.Integer({ minimum: 1, maximum: 65535 })) })
type Ports = Static<typeof PortsSchema>

/**
 * The ports a persistent node's listeners got from the OS on their first start, kept in its data
 * directory and asked for again on the next start, so its addresses (the WebRTC-direct one with its
 * certhash above all) survive a restart. Only listen addresses with port 0 are concerned: a port
 * the user chose is used as given. A remembered port that is now taken is given up for a fresh one,
 * with a warning (the addresses peers saved change).
 */
export class ListenPorts {
  readonly #file
  readonly #log: (msg: string) => void
  #ports: Ports['ports']

  private constructor(path: string, ports: Ports['ports'], log: (msg: string) => void) {
    this.#file = jsonFile({ path, format: 'switchboard-listen-ports', version: 1, schema: PortsSchema })
    this.#ports = ports
    this.#log = log
  }

  static async load(path: string, log: (msg: string) => void = () => {}): Promise<ListenPorts> {
    const file = jsonFile({ path, format: 'switchboard-listen-ports', version: 1, schema: PortsSchema })
    const loaded = await file.loadOrQuarantine({ what: 'the remembered listen ports', instead: 'listening on new ports', log })
    return new ListenPorts(path, loaded?.ports ?? {}, log)
  }

  /**
   * `listen` with each port-0 address given the port it had last time, where that port is still
   * free; the others get a fresh port that none of those is (left to the listener, the OS could hand
   * one of them out before its own listener takes it back: EADDRINUSE, and the node does not start).
   */
  async choose(listen: readonly string[]): Promise<string[]> {
    const reused = new Set<number>()
    const chosen = await Promise.all(
      listen.map(async (addr) => {
        const p = parts(addr)
        const remembered = this.#ports[addr]
        if (p?.port !== 0 || remembered === undefined) return addr
        if (await portFree(p.proto, p.host, remembered)) {
          reused.add(remembered)
          return withPort(addr, remembered)
        }
        this.#log(
          `listen address ${addr}: port ${remembered} (${p.proto.toUpperCase()}) used last time is taken; listening on a new port (addresses peers saved with the old one stop working)`,
        )
        return addr
      }),
    )
    if (reused.size === 0) return chosen
    const out: string[] = []
    for (const addr of chosen) {
      const p = parts(addr)
      if (p?.port !== 0) {
        out.push(addr)
        continue
      }
      const port = await freshPort(p.proto, p.host, reused)
      reused.add(port)
      out.push(withPort(addr, port))
    }
    return out
  }

  /** Remember the ports the port-0 addresses of `listen` got; two addresses that got the same port are left out. */
  async remember(listen: readonly string[], transportAddrs: readonly string[]): Promise<void> {
    const ports: Ports['ports'] = {}
    for (const addr of listen) {
      if (parts(addr)?.port !== 0) continue
      const port = boundPort(addr, transportAddrs)
      if (port !== undefined) ports[addr] = port
    }
    const key = (addr: string, port: number) => `${parts(addr)?.proto}:${port}`
    const counts = new Map<string, number>()
    for (const [addr, port] of Object.entries(ports)) counts.set(key(addr, port), (counts.get(key(addr, port)) ?? 0) + 1)
    for (const [addr, port] of Object.entries(ports)) if ((counts.get(key(addr, port)) ?? 0) > 1) delete ports[addr]
    if (JSON.stringify(ports) === JSON.stringify(this.#ports)) return
    this.#ports = ports
    await this.#file.save({ ports })
  }
}

/** What decides peer-a's listen addresses besides `listen` itself (config fields of the same names). */
export interface ListenSettings extends Partial<Record<'tcpPort' | 'wsPort' | 'wssPort' | 'webrtcPort', number>> {
  listen: readonly string[]
  tls?: unknown
}

/** The listen addresses a daemon's nodes get: the pinned ports put in, a `/tls/ws` listener added when there is a certificate. */
export function nodeListen(s: ListenSettings): string[] {
  const pinned: PinnedPorts = {
    ...(s.tcpPort !== undefined ? { tcp: s.tcpPort } : {}),
    ...(s.wsPort !== undefined ? { ws: s.wsPort } : {}),
    ...(s.wssPort !== undefined ? { wss: s.wssPort } : {}),
    ...(s.webrtcPort !== undefined ? { 'webrtc-direct': s.webrtcPort } : {}),
  }
  return pinListenPorts(s.tls !== undefined ? withSecureWebSockets(s.listen) : s.listen, pinned)
}
