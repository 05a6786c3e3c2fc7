import { parseArgs } from 'node:util'
import { type Config, firstConfigError } from '../config.ts'

export class UsageError extends Error {
  override name = 'UsageError'
}

export const HELP = `Usage: switchboard <command> [options]

Commands:
  start                     run the daemon (the default)
  status                    ask the running daemon for its peer, addresses and actors
  call <method> [params]    send one WebSocket request to the running daemon; params is JSON
  help                      show this help

Commands for the running daemon (each takes --json and --data-dir; \`switchboard <command> --help\`):
  info                                    peer id, addresses, reachability, connections
  peers [ls]                              the peers: status, connection type, last sync
  peers connect <peerId> [--addr <ma>]... dial a peer
  peers disconnect|forget <peerId>        hang up (and hold) a peer; forget it
  peers rename <peerId> <name>            name a peer
  pair [--name <n>] [--ttl <s>]           make a pairing ticket, draw its QR code, wait until it is used
  join <ticket> [--name <n>]              pair with the device that made the ticket
  topics [ls]                             the topics and their state
  topics sub <topic> [--count <n>]        print a topic's messages as they come
  topics pub <topic> <message>            publish a message
  files [ls] [peerId]                     list the directory, or a peer's
  files add <file> [path]                 upload a file (streamed, progress bar on a terminal)
  files get <cid|path> [out]              download a file (streamed, progress bar on a terminal)
  files rm <path>                         remove a file or directory
  actors [ls] [prefix]                    the actors and their states
  actors watch [prefix] [--count <n>]     each actor change as it happens
  bans [ls]                               banned peers
  bans add <peerId> [--ttl <s>]           ban a peer
  bans rm <peerId>                        lift a ban

Exit codes: 0 ok, 1 other failure, 2 bad usage or argument, 3 bad configuration, 4 data directory in
use, 5 data directory unusable, 6 cannot listen, 7 node did not start, 8 daemon not running or not
answering, 9 token refused, 10 not found (peer, path, ban), 11 refused or gone (expired, used or
cancelled ticket, wrong proof, conflict), 12 timed out or peer unreachable, 130 interrupted (Ctrl-C).
\`status\` and \`call\` use the same codes.

Options:
  --data-dir <dir>          data directory (default: $SWITCHBOARD_HOME or ~/.switchboard)
  --host <addr>             HTTP/WebSocket bind address (default: 127.0.0.1)
  --port <n>                first HTTP port to try; the next free one up to +99 is used (default: 10000)
  --listen <multiaddr>      libp2p listen address, repeatable (default: TCP, WebSockets, WebRTC-direct on all interfaces)
  --bootstrap <multiaddr>   bootstrap peer /.../p2p/<peerId>, repeatable
  --announce <multiaddr>    advertise exactly this address (repeatable) instead of the listeners' own
  --tcp-port <n>            port of the TCP listener (default: chosen on first start, then kept)
  --ws-port <n>             port of the WebSockets listener (default: chosen on first start, then kept)
  --webrtc-port <n>         UDP port of the WebRTC-direct listener (default: chosen on first start, then kept)
  --wss-port <n>            port of the secure WebSockets listener (default: chosen on first start, then kept)
  --tls-cert <file>         PEM certificate (chain) for a secure WebSockets (/tls/ws) listener; with --tls-key
  --tls-key <file>          PEM private key of --tls-cert
  --no-mdns                 do not discover peers on the LAN with mDNS
  --no-relay                do not run a circuit relay server (browsers then cannot reach each other through us)
  --unknown-peers <policy>  allow (default) or reject peers that are neither paired, added nor bootstrap
  --file-access <who>       all (default: any peer that reaches us may list and fetch our files) or known
                            (known and added peers only)
  --allow-origin <origin>   browser origin allowed to open /ws besides the daemon's own, repeatable
  --dht-timeout <ms>        how long a DHT bootstrap may take before the DHT is degraded (default: 30000)
  --app <dir>               serve this web app directory at / (single-page fallback to its index.html; the
                            app's pages open /ws with the start-up URL's cookie); the dashboard moves to /_switchboard/
  --inspect                 serve the Stately inspector at /inspect (WebSocket stream + page; off by default)
  --log-level <level>       silent (nothing but the banner), error (warnings only), info (default: node and
                            DHT state changes too) or debug (every actor's state changes)
  -h, --help                show this help
  -v, --version             print the version

Environment: SWITCHBOARD_HOME, SWITCHBOARD_PORT, SWITCHBOARD_HOST, SWITCHBOARD_BOOTSTRAP (comma-separated),
SWITCHBOARD_LISTEN (comma-separated), SWITCHBOARD_ANNOUNCE (comma-separated), SWITCHBOARD_TCP_PORT,
SWITCHBOARD_WS_PORT, SWITCHBOARD_WEBRTC_PORT, SWITCHBOARD_WSS_PORT, SWITCHBOARD_TLS_CERT, SWITCHBOARD_TLS_KEY, SWITCHBOARD_MDNS, SWITCHBOARD_UNKNOWN_PEERS, SWITCHBOARD_FILE_ACCESS,
SWITCHBOARD_LOG_LEVEL, SWITCHBOARD_APP.
Precedence: flags > environment > <dataDir>/config.json > defaults.
`

export interface ParsedCli {
  command: 'start' | 'status' | 'call' | 'help' | 'version'
  flags: Partial<Config>
  /** For `call`: the method and its params. */
  method?: string
  params?: unknown
}

/** Every flag the CLI accepts (node:util parseArgs form); HELP documents each of them. */
export const CLI_OPTIONS = {
  'data-dir': { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  listen: { type: 'string', multiple: true },
  bootstrap: { type: 'string', multiple: true },
  announce: { type: 'string', multiple: true },
  'tcp-port': { type: 'string' },
  'ws-port': { type: 'string' },
  'webrtc-port': { type: 'string' },
  'wss-port': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'no-mdns': { type: 'boolean' },
  'no-relay': { type: 'boolean' },
  'unknown-peers': { type: 'string' },
  'file-access': { type: 'string' },
  'allow-origin': { type: 'string', multiple: true },
  'dht-timeout': { type: 'string' },
  'log-level': { type: 'string' },
  inspect: { type: 'boolean' },
  app: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const

/** The flag behind each config field, so a value the schema refuses is reported as the flag the user typed. */
const FLAG_OF: Partial<Record<keyof Config, string>> = {
  dataDir: 'data-dir',
  host: 'host',
  port: 'port',
  listen: 'listen',
  bootstrap: 'bootstrap',
  announce: 'announce',
  tcpPort: 'tcp-port',
  wsPort: 'ws-port',
  webrtcPort: 'webrtc-port',
  wssPort: 'wss-port',
  tls: 'tls-cert',
  unknownPeers: 'unknown-peers',
  fileAccess: 'file-access',
  allowedOrigins: 'allow-origin',
  dhtBootstrapTimeoutMs: 'dht-timeout',
  logLevel: 'log-level',
  app: 'app',
}

function integer(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} expects a whole number, got ${JSON.stringify(value)}`)
  return Number(value)
}

function parseCall(positionals: string[], dataDir: string | undefined): ParsedCli {
  const [, method, json, extra] = positionals
  if (method === undefined) throw new UsageError('call needs a method, e.g. switchboard call node.info')
  if (extra !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(extra)} (quote the params JSON)`)
  let params: unknown = {}
  if (json !== undefined) {
    try {
      params = JSON.parse(json)
    } catch (err) {
      throw new UsageError(`params is not valid JSON: ${(err as Error).message}`)
    }
  }
  return { command: 'call', method, params, flags: dataDir !== undefined ? { dataDir } : {} }
}

/** Parse argv (without node and script); unknown flags and bad values throw UsageError. */
export function parseCli(argv: string[]): ParsedCli {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; strict: true; options: typeof CLI_OPTIONS }>>
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: CLI_OPTIONS,
    })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const { values, positionals } = parsed
  if (values.help) return { command: 'help', flags: {} }
  if (values.version) return { command: 'version', flags: {} }
  const command = positionals[0] ?? 'start'
  if (command === 'help') return { command: 'help', flags: {} }
  if (command === 'call') return parseCall(positionals, values['data-dir'])
  if (command !== 'start' && command !== 'status') throw new UsageError(`unknown command ${JSON.stringify(command)}`)
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])}`)
  if (command === 'status') return { command, flags: values['data-dir'] !== undefined ? { dataDir: values['data-dir'] } : {} }
  const policy = values['unknown-peers']
  if (policy !== undefined && policy !== 'allow' && policy !== 'reject') {
    throw new UsageError(`--unknown-peers expects allow or reject, got ${JSON.stringify(policy)}`)
  }
  const fileAccess = values['file-access']
  if (fileAccess !== undefined && fileAccess !== 'all' && fileAccess !== 'known') {
    throw new UsageError(`--file-access expects all or known, got ${JSON.stringify(fileAccess)}`)
  }
  const level = values['log-level']
  if (level !== undefined && !['silent', 'error', 'info', 'debug'].includes(level)) {
    throw new UsageError(`--log-level expects silent, error, info or debug, got ${JSON.stringify(level)}`)
  }
  const flags: Partial<Config> = {}
  if (values['data-dir'] !== undefined) flags.dataDir = values['data-dir']
  if (values.host !== undefined) flags.host = values.host
  const port = integer('port', values.port)
  if (port !== undefined) flags.port = port
  if (values.listen !== undefined) flags.listen = values.listen
  if (values.bootstrap !== undefined) flags.bootstrap = values.bootstrap
  if (values.announce !== undefined) flags.announce = values.announce
  for (const [flag, field] of [
    ['tcp-port', 'tcpPort'],
    ['ws-port', 'wsPort'],
    ['webrtc-port', 'webrtcPort'],
    ['wss-port', 'wssPort'],
  ] as const) {
    const n = integer(flag, values[flag])
    if (n !== undefined) flags[field] = n
  }
  const tlsCert = values['tls-cert']
  const tlsKey = values['tls-key']
  if ((tlsCert === undefined) !== (tlsKey === undefined)) throw new UsageError('--tls-cert and --tls-key go together: give both')
  if (tlsCert !== undefined && tlsKey !== undefined) flags.tls = { certFile: tlsCert, keyFile: tlsKey }
  if (values['no-mdns']) flags.mdns = false
  if (values['no-relay']) flags.relay = false
  if (values.inspect) flags.inspect = true
  if (values.app !== undefined) flags.app = values.app
  if (policy !== undefined) flags.unknownPeers = policy
  if (fileAccess !== undefined) flags.fileAccess = fileAccess
  if (values['allow-origin'] !== undefined) flags.allowedOrigins = values['allow-origin']
  const timeout = integer('dht-timeout', values['dht-timeout'])
  if (timeout !== undefined) flags.dhtBootstrapTimeoutMs = timeout
  if (level !== undefined) flags.logLevel = level as Config['logLevel']
  const error = firstConfigError(flags)
  if (error) {
    const [field, message] = error
    const flag = FLAG_OF[field as keyof Config] ?? field
    throw new UsageError(`--${flag} ${JSON.stringify(values[flag as keyof typeof values] ?? '')}: ${message}`)
  }
  return { command: command as 'start', flags }
}
