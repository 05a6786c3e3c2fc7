/**
 * Browser chat: a stock js-libp2p node in a page. It dials the Switchboard daemon over WebSockets,
 * gets a relay address through the daemon's circuit relay (peer-a), finds other tabs through a
 * GossipSub topic the daemon's gossip hub carries, dials them over WebRTC (signalled through the
 * relay, then browser to browser) and chats: plain-text messages on a topic and on a direct stream.
 *
 * Nothing here is Switchboard-specific but how the daemon's address is found: `?daemon=<multiaddr>`
 * in the page URL, else `node.info` over the daemon's own WebSocket API (the page is served by the
 * daemon, whose token cookie authorises that socket).
 *
 * `window.chat` exposes the node and a few promises for the test and benchmark that drive this page.
 */
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { gossipsub, type Message } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import type { Connection, Libp2p, PeerId } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { peerIdFromString } from '@libp2p/peer-id'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

/** Where tabs tell each other their addresses (JSON `{peerId, addrs}`). */
export const ANNOUNCE_TOPIC = 'browser-chat/peers'
/** The chat room: plain UTF-8 text, as most libp2p example apps publish. */
export const CHAT_TOPIC = 'browser-chat'
/** One direct message per stream: the sender writes UTF-8 text and closes. */
export const DIRECT_PROTOCOL = '/browser-chat/direct/1.0.0'

export interface ConnectionView {
  peerId: string
  remoteAddr: string
  /** Relay limits (data, duration) apply: a relayed connection. */
  limited: boolean
  /** A browser-to-browser WebRTC connection. */
  webrtc: boolean
}

const view = (c: Connection): ConnectionView => ({
  peerId: c.remotePeer.toString(),
  remoteAddr: c.remoteAddr.toString(),
  limited: c.limits !== undefined,
  webrtc: isDirectWebRTC(c),
})

export interface ChatMessage {
  topic: string
  from: string
  text: string
  /** performance.now() when it arrived. */
  at: number
  via: 'topic' | 'direct'
}

/** Milestones, in performance.now() milliseconds. */
export interface ChatTimings {
  /** The daemon's address known, the node about to be made. */
  started: number
  daemonConnected?: number
  reserved?: number
  /** We began dialling the tab of our first WebRTC connection (when we are its dialler). */
  dialStarted?: number
  webrtc?: number
}

export interface ChatApi {
  node: Libp2p
  peerId: string
  daemon: string
  timings: ChatTimings
  messages: ChatMessage[]
  /** Resolves with our first relay address (`.../p2p-circuit/webrtc/p2p/<us>`): the relay reserved us a slot. */
  reserved: Promise<string>
  /** Resolves with the first browser-to-browser WebRTC connection (not relayed). */
  webrtc: Promise<ConnectionView>
  /** Current connections. */
  connections(): ConnectionView[]
  subscribe(topic: string): void
  /** Publish UTF-8 text (or exact bytes) on a topic. */
  publish(topic: string, data: string | Uint8Array): Promise<void>
  /** Resolves with the first message (received before or after the call) matching topic and text. */
  nextMessage(match: { topic?: string; text?: string; via?: 'topic' | 'direct' }): Promise<ChatMessage>
  /** Send text to a peer on a stream of its own over the connection we have to it. */
  sendDirect(peerId: string, text: string): Promise<void>
  stop(): Promise<void>
}

declare global {
  interface Window {
    chat?: ChatApi
    chatReady?: Promise<ChatApi>
  }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** A relayed WebRTC signalling address (`/p2p-circuit/webrtc`), the kind other tabs dial. */
const isWebRTCRelayAddr = (a: string) => a.includes('/p2p-circuit/webrtc')
/**
 * A browser-to-browser WebRTC connection: its transport is /webrtc (the dialler's remote address is
 * the one it dialled, `<relay>/p2p-circuit/webrtc/p2p/<peer>`, the answerer's `/webrtc/p2p/<peer>`)
 * and, unlike the relayed connection it was signalled over, it carries no relay limits.
 */
const isDirectWebRTC = (c: Connection) => /\/webrtc\/p2p\/[^/]+$/.test(c.remoteAddr.toString()) && c.limits === undefined

/** The daemon's WebSocket multiaddr: from `?daemon=`, else asked of the daemon that served the page. */
async function daemonAddress(): Promise<string> {
  const given = new URLSearchParams(location.search).get('daemon')
  if (given) return given
  const info = await new Promise<{ peerid: string; addrs: string[] }>((resolve, reject) => {
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`)
    ws.onopen = () => ws.send(JSON.stringify({ requestid: 1, method: 'node.info', params: {} }))
    ws.onerror = () => reject(new Error('cannot reach the daemon at /ws (open the page with ?token=...)'))
    ws.onmessage = (m) => {
      const f = JSON.parse(String(m.data)) as {
        requestid?: number
        result?: { peerid: string; addrs: string[] }
        error?: { message: string }
      }
      if (f.requestid !== 1) return
      ws.close()
      if (f.result) resolve(f.result)
      else reject(new Error(`node.info: ${f.error?.message ?? 'no answer'}`))
    }
  })
  // an https page can only dial secure WebSockets
  const secure = location.protocol === 'https:'
  const ws = info.addrs.filter((a) => (secure ? /\/(tls\/ws|wss)(\/|$)/.test(a) : /\/ws(\/|$)/.test(a) && !a.includes('/tls/')))
  const host = location.hostname
  const chosen = ws.find((a) => a.split('/')[2] === host) ?? ws.find((a) => !a.startsWith('/ip6')) ?? ws[0]
  if (chosen === undefined) throw new Error(`the daemon has no ${secure ? '/tls/ws' : '/ws'} listener: ${info.addrs.join(' ')}`)
  return chosen.includes('/p2p/') ? chosen : `${chosen}/p2p/${info.peerid}`
}

export async function startChat(log: (line: string) => void = () => {}): Promise<ChatApi> {
  const daemon = await daemonAddress()
  const timings: ChatTimings = { started: performance.now() }
  const node = await createLibp2p({
    // a relay slot, then browser-to-browser WebRTC signalled through it
    addresses: { listen: ['/p2p-circuit', '/webrtc'] },
    transports: [webSockets(), webRTC({ rtcConfiguration: { iceServers: [] } }), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // a stock browser node refuses ws:// and private addresses; a daemon on a LAN is both
    connectionGater: { denyDialMultiaddr: async () => false },
    // libp2p aborts a connection whose heartbeat ping takes over 5 s: a tab in the background or on a
    // busy machine would lose its WebRTC link to the other tabs (the daemon gives pings 20 s too)
    connectionMonitor: { pingTimeout: { minTimeout: 20_000 } },
    services: {
      identify: identify(),
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false }),
    },
  })
  const pubsub = node.services.pubsub
  const self = node.peerId.toString()
  const messages: ChatMessage[] = []
  const waiters = new Set<{ match: Parameters<ChatApi['nextMessage']>[0]; resolve: (m: ChatMessage) => void }>()
  const matches = (m: ChatMessage, match: Parameters<ChatApi['nextMessage']>[0]) =>
    (match.topic === undefined || m.topic === match.topic) &&
    (match.text === undefined || m.text === match.text) &&
    (match.via === undefined || m.via === match.via)
  const received = (m: ChatMessage) => {
    messages.push(m)
    if (m.topic === CHAT_TOPIC || m.via === 'direct') log(`${m.via === 'direct' ? '(direct) ' : ''}${m.from.slice(-6)}: ${m.text}`)
    for (const w of waiters) {
      if (!matches(m, w.match)) continue
      waiters.delete(w)
      w.resolve(m)
    }
  }

  let resolveReserved: (addr: string) => void = () => {}
  const reserved = new Promise<string>((r) => (resolveReserved = r))
  let resolveWebRTC: (c: ConnectionView) => void = () => {}
  const webrtc = new Promise<ConnectionView>((r) => (resolveWebRTC = r))

  const relayAddrs = () => node.getMultiaddrs().map(String).filter(isWebRTCRelayAddr)
  /**
   * Tell the other tabs where we are; `hello`: also before we have a relay address (no addrs then),
   * so the tabs already there answer with theirs at once and we dial them.
   */
  const announce = (hello = false) => {
    const addrs = relayAddrs()
    if (addrs.length === 0 && !hello) return
    void pubsub.publish(ANNOUNCE_TOPIC, encoder.encode(JSON.stringify({ peerId: self, addrs }))).catch(() => {})
  }
  // when we last answered each tab: two tabs that cannot connect must not answer each other forever
  const answered = new Map<string, number>()
  node.addEventListener('self:peer:update', () => {
    const addrs = relayAddrs()
    if (addrs[0] === undefined || timings.reserved !== undefined) return
    timings.reserved = performance.now()
    log(`relay address ${addrs[0]}`)
    resolveReserved(addrs[0])
    announce()
  })
  const dialing = new Set<string>()
  // when we began dialling each tab (an announce can be a closed tab's, still in GossipSub's cache)
  const dialStarts = new Map<string, number>()
  const onConnection = (connection: Connection) => {
    if (!isDirectWebRTC(connection)) return
    log(`WebRTC connection to ${connection.remotePeer.toString().slice(-6)}`)
    if (timings.webrtc === undefined) {
      timings.webrtc = performance.now()
      timings.dialStarted = dialStarts.get(connection.remotePeer.toString())
    }
    resolveWebRTC(view(connection))
  }
  node.addEventListener('connection:open', (e) => onConnection(e.detail))

  const hasWebRTC = (peer: PeerId) => node.getConnections(peer).some(isDirectWebRTC)
  pubsub.addEventListener('message', (e: CustomEvent<Message>) => {
    const msg = e.detail
    const from = msg.type === 'signed' ? msg.from.toString() : ''
    const text = decoder.decode(msg.data)
    if (msg.topic === ANNOUNCE_TOPIC) {
      let other: { peerId?: unknown; addrs?: unknown }
      try {
        other = JSON.parse(text)
      } catch {
        return
      }
      if (typeof other.peerId !== 'string' || other.peerId === self || !Array.isArray(other.addrs)) return
      const peer = peerIdFromString(other.peerId)
      if (hasWebRTC(peer) || dialing.has(other.peerId)) return
      // a newcomer learns us from our answer
      if (performance.now() - (answered.get(other.peerId) ?? -Infinity) > 1000) {
        answered.set(other.peerId, performance.now())
        announce()
      }
      // the smaller peer id dials, so two tabs open one connection; but a tab without a relay address
      // yet (a newcomer) cannot be dialled, so it dials
      if (self > other.peerId && relayAddrs().length > 0) return
      const addr = (other.addrs as unknown[]).find((a): a is string => typeof a === 'string' && isWebRTCRelayAddr(a))
      if (addr === undefined) return
      dialing.add(other.peerId)
      dialStarts.set(other.peerId, performance.now())
      log(`dialling ${other.peerId.slice(-6)} over WebRTC`)
      node
        .dial(multiaddr(addr))
        .then(onConnection)
        .catch((err: Error) => log(`WebRTC dial failed: ${err.message}`))
        .finally(() => dialing.delete(other.peerId as string))
      return
    }
    received({ topic: msg.topic, from, text, at: performance.now(), via: 'topic' })
  })
  // a new subscriber to the announce topic (the daemon's hub, another tab) hears about us, even
  // before we have a relay address: the tabs there answer
  pubsub.addEventListener('subscription-change', (e) => {
    if (e.detail.subscriptions.some((s) => s.topic === ANNOUNCE_TOPIC && s.subscribe)) announce(true)
  })

  await node.handle(DIRECT_PROTOCOL, async (stream, connection) => {
    const chunks: Uint8Array[] = []
    for await (const chunk of stream) chunks.push(chunk.subarray())
    const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
    let off = 0
    for (const c of chunks) {
      bytes.set(c, off)
      off += c.length
    }
    received({
      topic: DIRECT_PROTOCOL,
      from: connection.remotePeer.toString(),
      text: decoder.decode(bytes),
      at: performance.now(),
      via: 'direct',
    })
  })

  pubsub.subscribe(ANNOUNCE_TOPIC)
  pubsub.subscribe(CHAT_TOPIC)
  log(`I am ${self}; dialling the daemon at ${daemon}`)
  const daemonAddr = multiaddr(daemon)
  await node.dial(daemonAddr)
  timings.daemonConnected = performance.now()
  log('connected to the daemon')
  // new tabs come and go: say where we are now and then
  const timer = setInterval(announce, 5000)

  // The daemon is the one peer we know: when it goes (a restart), dial it again, with backoff, until
  // it is back; the relay transport then reserves a slot on it again (same address: same relay).
  // Our WebRTC connections to other tabs do not need it and stay up meanwhile.
  const daemonPeer = /\/p2p\/([^/]+)$/.exec(daemon)?.[1] ?? null
  let stopped = false
  let redialling = false
  const redial = async () => {
    if (redialling) return
    redialling = true
    let delay = 250
    while (!stopped && daemonPeer !== null && node.getConnections(peerIdFromString(daemonPeer)).length === 0) {
      try {
        await node.dial(daemonAddr, { signal: AbortSignal.timeout(10_000) })
        log('reconnected to the daemon')
        break
      } catch {
        await new Promise((r) => setTimeout(r, delay))
        delay = Math.min(delay * 2, 4000)
      }
    }
    redialling = false
  }
  node.addEventListener('peer:disconnect', (e) => {
    if (stopped || daemonPeer === null || e.detail.toString() !== daemonPeer) return
    log('lost the daemon; dialling it again')
    void redial()
  })

  return {
    node,
    peerId: self,
    daemon,
    timings,
    messages,
    reserved,
    webrtc,
    connections: () => node.getConnections().map(view),
    subscribe: (topic) => pubsub.subscribe(topic),
    publish: async (topic, data) => {
      await pubsub.publish(topic, typeof data === 'string' ? encoder.encode(data) : data)
    },
    nextMessage: (match) => {
      const seen = messages.find((m) => matches(m, match))
      if (seen) return Promise.resolve(seen)
      return new Promise((resolve) => waiters.add({ match, resolve }))
    },
    sendDirect: async (peerId, text) => {
      const stream = await node.dialProtocol(peerIdFromString(peerId), DIRECT_PROTOCOL)
      stream.send(encoder.encode(text))
      await stream.close()
    },
    stop: async () => {
      stopped = true
      clearInterval(timer)
      await node.stop()
    },
  }
}

/** The page: a log, an input, and the node behind them. */
function page(): void {
  const logEl = document.getElementById('log')
  const input = document.getElementById('text') as HTMLInputElement | null
  const form = document.getElementById('send')
  const status = document.getElementById('status')
  const log = (line: string) => {
    if (!logEl) return
    const li = document.createElement('li')
    li.textContent = line
    logEl.append(li)
  }
  window.chatReady = startChat(log)
  window.chatReady.then(
    (chat) => {
      window.chat = chat
      if (status) status.textContent = `peer ${chat.peerId}`
      form?.addEventListener('submit', (e) => {
        e.preventDefault()
        const text = input?.value ?? ''
        if (text === '' || !input) return
        input.value = ''
        log(`me: ${text}`)
        void chat.publish(CHAT_TOPIC, text).catch((err: Error) => log(`not sent: ${err.message}`))
      })
    },
    (err: Error) => {
      if (status) status.textContent = `failed: ${err.message}`
      log(`failed: ${err.message}`)
    },
  )
}

if (typeof document !== 'undefined') page()
