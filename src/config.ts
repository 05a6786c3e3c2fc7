import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { type Static, Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

/** Everything the daemon can be told; one schema validates config.json, the environment and flags alike. */
export const ConfigSchema = Type.Object(
  {
    dataDir: Type.String({ minLength: 1 }),
    host: Type.String({ minLength: 1 }),
    port: Type.Integer({ minimum: 0, maximum: 65535 }),
    portRangeEnd: Type.Integer({ minimum: 0, maximum: 65535 }),
    listen: Type.Array(Type.String()),
    bootstrap: Type.Array(Type.String()),
    /** Addresses peer-a advertises instead of its listeners' own (libp2p `addresses.announce`); none: its listeners'. */
    announce: Type.Array(Type.String()),
    /** Port of peer-a's TCP listeners (`/tcp/<n>`); unset: the one chosen on first start, kept across restarts. */
    tcpPort: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    /** Port of peer-a's WebSockets listeners (`/tcp/<n>/ws`). */
    wsPort: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    /** Port of peer-a's secure WebSockets listeners (`/tcp/<n>/tls/ws`). */
    wssPort: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    /** UDP port of peer-a's WebRTC-direct listeners (`/udp/<n>/webrtc-direct`). */
    webrtcPort: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    /** PEM certificate (chain) and private key of a `/tls/ws` listener, which is added when `listen` has none. */
    tls: Type.Optional(
      Type.Object({ certFile: Type.String({ minLength: 1 }), keyFile: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
    ),
    mdns: Type.Boolean(),
    /** Run a circuit relay server on peer-a (browsers and peers behind NAT reach each other through it). */
    relay: Type.Boolean(),
    /** Relay reservations held at once. */
    relayMaxReservations: Type.Integer({ minimum: 1, maximum: 10_000 }),
    /** A relay reservation lasts this long before its peer renews it (s). */
    relayReservationTtlSeconds: Type.Integer({ minimum: 10, maximum: 24 * 3600 }),
    /** Longest one relayed connection may live (s); browsers upgrade to WebRTC well within it. */
    relayDurationLimitSeconds: Type.Integer({ minimum: 1, maximum: 24 * 3600 }),
    /** Most bytes one relayed connection may carry each way. */
    relayDataLimitBytes: Type.Integer({ minimum: 1024, maximum: 1024 ** 3 }),
    unknownPeers: Type.Union([Type.Literal('allow'), Type.Literal('reject')]),
    /** Who may list and fetch our files over /p2p-webapp/1.0.0: `all` (p2p-webapp's behaviour) or `known` (known and added peers only). */
    fileAccess: Type.Union([Type.Literal('all'), Type.Literal('known')]),
    allowedOrigins: Type.Array(Type.String()),
    maxFrameBytes: Type.Integer({ minimum: 1024 }),
    /** Most arrays, objects, array elements and object members one WebSocket frame may hold (413 above). */
    maxFrameElements: Type.Integer({ minimum: 16 }),
    /** Most object members (keys) one WebSocket frame may hold (413 above). */
    maxFrameKeys: Type.Integer({ minimum: 16 }),
    /** Open WebSocket connections (and upgrades under way) at once; beyond it an upgrade is refused with 503. */
    maxWebSocketConnections: Type.Integer({ minimum: 1 }),
    dhtBootstrapTimeoutMs: Type.Integer({ minimum: 100 }),
    dhtQueueLimit: Type.Integer({ minimum: 1 }),
    dhtConcurrency: Type.Integer({ minimum: 1 }),
    dhtProtocol: Type.String({ minLength: 1 }),
    allowLoopbackAddresses: Type.Boolean(),
    peerRetryInitialMs: Type.Integer({ minimum: 1 }),
    peerRetryMaxMs: Type.Integer({ minimum: 1 }),
    connectTries: Type.Integer({ minimum: 1, maximum: 100 }),
    connectRetryMs: Type.Integer({ minimum: 0 }),
    dialTimeoutMs: Type.Integer({ minimum: 100 }),
    /** High watermark: above this many connections our pruner closes the lowest-value unprotected ones. */
    maxConnections: Type.Integer({ minimum: 1, maximum: 100_000 }),
    /** What the pruner brings the connection count down to. */
    lowWatermark: Type.Integer({ minimum: 0, maximum: 100_000 }),
    /** Connections younger than this are never pruned (ms). */
    pruneGraceMs: Type.Integer({ minimum: 0 }),
    /** Default lifetime of a presence announcement (s). */
    presenceTtlSeconds: Type.Integer({ minimum: 1, maximum: 3600 }),
    /** Lifetime of a pairing ticket when pairing.create names none (s). */
    pairingTtlSeconds: Type.Integer({ minimum: 10, maximum: 7 * 24 * 3600 }),
    /** A join's dial plus handshake must finish within this; an initiator drops a silent joiner after it (ms). */
    pairingHandshakeTimeoutMs: Type.Integer({ minimum: 100, maximum: 600_000 }),
    /** Wrong proofs for one ticket after which the ticket is cancelled. */
    pairingMaxWrongProofs: Type.Integer({ minimum: 1, maximum: 100 }),
    rateLimitBurst: Type.Integer({ minimum: 1 }),
    rateLimitPerSecond: Type.Integer({ minimum: 1 }),
    topicMeshTimeoutMs: Type.Integer({ minimum: 0 }),
    topicReprovideMs: Type.Integer({ minimum: 1000 }),
    /** peer-a as a GossipSub hub: `all` joins every topic a connected non-daemon peer (a browser) subscribes to, a list exactly those, `off` none. */
    gossipHub: Type.Union([
      Type.Literal('off'),
      Type.Literal('all'),
      Type.Array(Type.String({ minLength: 1, maxLength: 1024 }), { maxItems: 10_000 }),
    ]),
    /** Most topics the hub holds at once under `all`. */
    gossipHubMaxTopics: Type.Integer({ minimum: 1, maximum: 100_000 }),
    /** Topic that hears {"type":"p2p-webapp-file-update","peer"} after each directory change of a subscribed peer; '' for none. */
    fileUpdateNotifyTopic: Type.String({ maxLength: 1024 }),
    /** getfile: how long local blocks and bitswap may make no progress before the fallback peer is asked (ms). */
    getFileTimeoutMs: Type.Integer({ minimum: 10 }),
    /** getfile: how long the fallback peer's whole reply may take (ms). */
    getFileFallbackTimeoutMs: Type.Integer({ minimum: 100 }),
    /** listfiles of another peer: how long its reply may take (ms). */
    listFilesTimeoutMs: Type.Integer({ minimum: 100 }),
    /** Largest /p2p-webapp/1.0.0 reply frame read or written (bytes). */
    fileFrameMaxBytes: Type.Integer({ minimum: 65_536, maximum: 1 << 30 }),
    /** A directory larger than this (estimated encoded bytes) becomes a HAMT shard. */
    fileShardSplitThresholdBytes: Type.Integer({ minimum: 256 }),
    /** Uploads: a streamed file that sends no bytes for this long is aborted (ms). */
    fileUploadIdleMs: Type.Integer({ minimum: 100 }),
    /** Uploads: largest file accepted (bytes); 413 above. */
    fileMaxBytes: Type.Integer({ minimum: 1 }),
    /** Uploads: most bytes one local peer's directory may hold (bytes); 413 above. */
    filePeerQuotaBytes: Type.Integer({ minimum: 1 }),
    /** Uploads: most bytes all local peers' directories (running and saved session peers too) may hold together (bytes); 413 above. */
    fileTotalQuotaBytes: Type.Integer({ minimum: 1 }),
    /** A stopped session peer's saved directory root is dropped this long after it last stored or stopped, and its blocks collected (ms). */
    sessionRootRetentionMs: Type.Integer({ minimum: 1000 }),
    /** Fetched blocks no directory references (getfile, GET /ipfs) kept as cache, least recently used evicted first (bytes). */
    fileCacheMaxBytes: Type.Integer({ minimum: 0 }),
    /** How often unreferenced blocks are collected besides at start and after aborted uploads (ms). */
    fileGcIntervalMs: Type.Integer({ minimum: 1000 }),
    /** Direct messages: how long a message is retried while its peer is unreachable before `delivered: false` (ms). */
    messageRetryWindowMs: Type.Integer({ minimum: 100 }),
    /** Direct messages: an outbound stream with nothing in flight is closed after this long (ms). */
    messageIdleMs: Type.Integer({ minimum: 100 }),
    /** Direct messages waiting for one remote peer (all protocols); beyond it `send` answers 429. */
    messageQueueLimit: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
    peerMessageBurst: Type.Integer({ minimum: 1 }),
    peerMessagesPerSecond: Type.Integer({ minimum: 1 }),
    logLevel: Type.Union([Type.Literal('silent'), Type.Literal('error'), Type.Literal('info'), Type.Literal('debug')]),
    /** Serve the Stately inspector stream (WebSocket /inspect) and its page (GET /inspect); off: neither exists and nothing is serialised. */
    inspect: Type.Boolean(),
    /** A web app directory (p2p-webapp's `--dir`) served at `/` with single-page fallback; the dashboard moves to `/_switchboard/`. */
    app: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
)
export type Config = Static<typeof ConfigSchema>

export class ConfigError extends Error {
  override name = 'ConfigError'
}

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.SWITCHBOARD_HOME ?? join(homedir(), '.switchboard')
}

/** What `npm start` listens on: every transport the daemon has, on every interface, OS-chosen ports. */
export const DEFAULT_LISTEN: readonly string[] = ['/ip4/0.0.0.0/tcp/0', '/ip4/0.0.0.0/tcp/0/ws', '/ip4/0.0.0.0/udp/0/webrtc-direct']

export function defaultConfig(dataDir: string): Config {
  return {
    dataDir,
    host: '127.0.0.1',
    port: 10000,
    portRangeEnd: 10099,
    listen: [...DEFAULT_LISTEN],
    bootstrap: [],
    announce: [],
    mdns: true,
    relay: true,
    relayMaxReservations: 32,
    relayReservationTtlSeconds: 3600,
    relayDurationLimitSeconds: 120,
    relayDataLimitBytes: 1024 * 1024,
    unknownPeers: 'allow',
    fileAccess: 'all',
    allowedOrigins: [],
    // every byte of a frame is decoded and parsed in one go on the event loop: 1 MiB keeps the worst
    // frame to milliseconds; files bigger than a frame go through PUT /files
    maxFrameBytes: 1024 * 1024,
    // parse cost grows with structure: at these bounds the worst 1 MiB frame costs a few ms
    maxFrameElements: 50_000,
    maxFrameKeys: 10_000,
    maxWebSocketConnections: 256,
    dhtBootstrapTimeoutMs: 30_000,
    dhtQueueLimit: 1000,
    dhtConcurrency: 4,
    dhtProtocol: '/switchboard/kad/1.0.0',
    allowLoopbackAddresses: true,
    // with jitter in [0.5, 1.5) the first automatic retry comes within 240 ms
    peerRetryInitialMs: 160,
    peerRetryMaxMs: 30_000,
    connectTries: 3,
    connectRetryMs: 1_000,
    dialTimeoutMs: 10_000,
    maxConnections: 200,
    lowWatermark: 150,
    pruneGraceMs: 20_000,
    presenceTtlSeconds: 300,
    pairingTtlSeconds: 600,
    pairingHandshakeTimeoutMs: 30_000,
    pairingMaxWrongProofs: 3,
    // per WebSocket connection: generous for apps, a wall for floods
    rateLimitBurst: 2_000,
    rateLimitPerSecond: 1_000,
    topicMeshTimeoutMs: 5_000,
    // kad provider records live 48 h; renew well before
    topicReprovideMs: 12 * 60 * 60 * 1000,
    // browsers that know only the daemon mesh through it without anyone configuring anything
    gossipHub: 'all',
    gossipHubMaxTopics: 256,
    fileUpdateNotifyTopic: '',
    getFileTimeoutMs: 3_000,
    getFileFallbackTimeoutMs: 30_000,
    listFilesTimeoutMs: 30_000,
    fileFrameMaxBytes: 32 * 1024 * 1024,
    fileShardSplitThresholdBytes: 262_144,
    fileUploadIdleMs: 30_000,
    fileMaxBytes: 2 * 1024 * 1024 * 1024,
    filePeerQuotaBytes: 10 * 1024 * 1024 * 1024,
    fileTotalQuotaBytes: 20 * 1024 * 1024 * 1024,
    sessionRootRetentionMs: 7 * 24 * 3600 * 1000,
    fileCacheMaxBytes: 256 * 1024 * 1024,
    fileGcIntervalMs: 10 * 60 * 1000,
    messageRetryWindowMs: 60_000,
    messageIdleMs: 30_000,
    messageQueueLimit: 1000,
    // inbound direct messages per remote peer, all protocols together: beyond this it is a flood
    peerMessageBurst: 40_000,
    peerMessagesPerSecond: 20_000,
    logLevel: 'info',
    inspect: false,
  }
}

/** Any subset of the config: what config.json, the environment and flags each contribute. */
export const PartialConfig = Type.Partial(ConfigSchema, { additionalProperties: false })

function describeErrors(schema: typeof PartialConfig, value: unknown): string {
  return [...Value.Errors(schema, value)].map((e) => `${e.path || '/'} ${e.message}`).join('; ')
}

/** The first schema error of `value` as [field, message], or undefined when it is valid. */
export function firstConfigError(value: unknown): [field: string, message: string] | undefined {
  const first = Value.Errors(PartialConfig, value).First()
  if (!first) return undefined
  return [first.path.split('/')[1] ?? '', first.message]
}

/** Read `<dataDir>/config.json` if present; a file that is not valid JSON or not a valid config is an error naming it. */
export async function readConfigFile(dataDir: string): Promise<Partial<Config>> {
  const path = join(dataDir, 'config.json')
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return {}
    if (code === 'ENOTDIR') throw new ConfigError(`data directory ${dataDir} is not a directory`)
    throw new ConfigError(`${path}: cannot read (${(err as Error).message})`)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(`${path}: not valid JSON (${(err as Error).message})`)
  }
  if (!Value.Check(PartialConfig, parsed)) {
    throw new ConfigError(`${path}: ${describeErrors(PartialConfig, parsed)}`)
  }
  return parsed
}

/**
 * `env` without any SWITCHBOARD_* variable: for a daemon or CLI started as a child process (tests, lab,
 * benchmarks) that must run on its own flags and data directory, not on the developer's settings.
 */
export function envWithoutSwitchboard(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(env)) if (!k.startsWith('SWITCHBOARD_')) out[k] = v
  return out
}

/** The environment variable behind each field it can set; errors name the variable, not the field. */
const ENV_VARS: Partial<Record<keyof Config, string>> = {
  port: 'SWITCHBOARD_PORT',
  host: 'SWITCHBOARD_HOST',
  bootstrap: 'SWITCHBOARD_BOOTSTRAP',
  listen: 'SWITCHBOARD_LISTEN',
  announce: 'SWITCHBOARD_ANNOUNCE',
  tcpPort: 'SWITCHBOARD_TCP_PORT',
  wsPort: 'SWITCHBOARD_WS_PORT',
  wssPort: 'SWITCHBOARD_WSS_PORT',
  webrtcPort: 'SWITCHBOARD_WEBRTC_PORT',
  tls: 'SWITCHBOARD_TLS_CERT',
  mdns: 'SWITCHBOARD_MDNS',
  relay: 'SWITCHBOARD_RELAY',
  unknownPeers: 'SWITCHBOARD_UNKNOWN_PEERS',
  fileAccess: 'SWITCHBOARD_FILE_ACCESS',
  logLevel: 'SWITCHBOARD_LOG_LEVEL',
  app: 'SWITCHBOARD_APP',
}

/** SWITCHBOARD_* environment variables, typed and checked by the schema. */
export function configFromEnv(env: NodeJS.ProcessEnv): Partial<Config> {
  const out: Record<string, unknown> = {}
  const list = (v: string) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
  if (env.SWITCHBOARD_PORT) out.port = /^\d+$/.test(env.SWITCHBOARD_PORT.trim()) ? Number(env.SWITCHBOARD_PORT) : env.SWITCHBOARD_PORT
  if (env.SWITCHBOARD_HOST) out.host = env.SWITCHBOARD_HOST
  if (env.SWITCHBOARD_BOOTSTRAP) out.bootstrap = list(env.SWITCHBOARD_BOOTSTRAP)
  if (env.SWITCHBOARD_LISTEN) out.listen = list(env.SWITCHBOARD_LISTEN)
  if (env.SWITCHBOARD_ANNOUNCE) out.announce = list(env.SWITCHBOARD_ANNOUNCE)
  for (const [field, name] of [
    ['tcpPort', 'SWITCHBOARD_TCP_PORT'],
    ['wsPort', 'SWITCHBOARD_WS_PORT'],
    ['wssPort', 'SWITCHBOARD_WSS_PORT'],
    ['webrtcPort', 'SWITCHBOARD_WEBRTC_PORT'],
  ] as const) {
    const v = env[name]?.trim()
    if (v) out[field] = /^\d+$/.test(v) ? Number(v) : v
  }
  if (env.SWITCHBOARD_TLS_CERT || env.SWITCHBOARD_TLS_KEY) {
    if (!env.SWITCHBOARD_TLS_CERT || !env.SWITCHBOARD_TLS_KEY) {
      throw new ConfigError('environment variables SWITCHBOARD_TLS_CERT and SWITCHBOARD_TLS_KEY go together: set both or neither')
    }
    out.tls = { certFile: env.SWITCHBOARD_TLS_CERT, keyFile: env.SWITCHBOARD_TLS_KEY }
  }
  if (env.SWITCHBOARD_MDNS) out.mdns = env.SWITCHBOARD_MDNS !== '0' && env.SWITCHBOARD_MDNS !== 'false'
  if (env.SWITCHBOARD_RELAY) out.relay = env.SWITCHBOARD_RELAY !== '0' && env.SWITCHBOARD_RELAY !== 'false'
  if (env.SWITCHBOARD_UNKNOWN_PEERS) out.unknownPeers = env.SWITCHBOARD_UNKNOWN_PEERS
  if (env.SWITCHBOARD_FILE_ACCESS) out.fileAccess = env.SWITCHBOARD_FILE_ACCESS
  if (env.SWITCHBOARD_LOG_LEVEL) out.logLevel = env.SWITCHBOARD_LOG_LEVEL
  if (env.SWITCHBOARD_APP) out.app = env.SWITCHBOARD_APP
  const error = firstConfigError(out)
  if (error) {
    const [field, message] = error
    const name = ENV_VARS[field as keyof Config] ?? field
    throw new ConfigError(`environment variable ${name}=${JSON.stringify(env[name] ?? '')}: ${message}`)
  }
  return out as Partial<Config>
}

/** Merge defaults < config.json < environment < flags, then validate the result as a whole. */
export async function resolveConfig(flags: Partial<Config>, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  const dataDir = resolve(flags.dataDir ?? defaultDataDir(env))
  const fromFile = await readConfigFile(dataDir)
  const fromEnv = configFromEnv(env)
  const merged = { ...defaultConfig(dataDir), ...fromFile, ...fromEnv, ...flags, dataDir }
  // an app directory from config.json is relative to the data directory, from the environment or a flag to the working directory
  if (merged.app !== undefined) merged.app = (flags.app ?? fromEnv.app) !== undefined ? resolve(merged.app) : resolve(dataDir, merged.app)
  // a port chosen anywhere brings its own range of 100, unless the range's end was set too
  if (fromFile.portRangeEnd === undefined && fromEnv.portRangeEnd === undefined && flags.portRangeEnd === undefined) {
    merged.portRangeEnd = Math.max(merged.port, Math.min(65535, merged.port + 99))
  }
  return validateConfig(merged)
}

export function validateConfig(value: unknown): Config {
  if (!Value.Check(ConfigSchema, value)) {
    throw new ConfigError(`invalid configuration: ${describeErrors(ConfigSchema as never, value)}`)
  }
  for (const field of ['listen', 'bootstrap', 'announce'] as const) {
    for (const [i, addr] of value[field].entries()) {
      try {
        multiaddr(addr)
      } catch (err) {
        throw new ConfigError(
          `invalid ${field} multiaddr ${JSON.stringify(addr)}${field === 'announce' ? ` (announce[${i}])` : ''}: ${(err as Error).message}`,
        )
      }
      if (field === 'announce' && /^\/ip[46]\/(0\.0\.0\.0|::)(\/|$)/.test(addr)) {
        throw new ConfigError(
          `announce multiaddr ${JSON.stringify(addr)} (announce[${i}]) has an unspecified host: announce the address peers dial`,
        )
      }
      if (field === 'announce' && !/\/(tcp|udp)\/\d+|\/p2p-circuit/.test(addr)) {
        throw new ConfigError(`announce multiaddr ${JSON.stringify(addr)} (announce[${i}]) has no port: peers cannot dial it`)
      }
      if (field === 'listen' && /\/tcp\/\d+\/(tls\/ws|wss)$/.test(addr) && value.tls === undefined) {
        throw new ConfigError(
          `listen multiaddr ${JSON.stringify(addr)} is secure WebSockets: give its certificate and key (tls.certFile and tls.keyFile, --tls-cert and --tls-key)`,
        )
      }
      if (field === 'bootstrap' && !addr.includes('/p2p/')) {
        throw new ConfigError(`bootstrap multiaddr ${JSON.stringify(addr)} must end in /p2p/<peerId>`)
      }
    }
  }
  if (value.lowWatermark > value.maxConnections)
    throw new ConfigError(`lowWatermark ${value.lowWatermark} is above maxConnections ${value.maxConnections}`)
  if (Array.isArray(value.gossipHub)) {
    const reserved = value.gossipHub.find((t) => t.startsWith('switchboard/'))
    if (reserved !== undefined)
      throw new ConfigError(`gossipHub topic ${JSON.stringify(reserved)}: names starting with switchboard/ are reserved for the daemon`)
  }
  if (value.portRangeEnd < value.port) throw new ConfigError(`portRangeEnd ${value.portRangeEnd} is below port ${value.port}`)
  return value
}
