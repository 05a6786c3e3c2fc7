import '../shims.ts'
import type { ActorRegistry, RegistryChange } from '../actors/supervisor/actor-registry.ts'
import { resolveConfig } from '../config.ts'
import { systemIds } from '../machines/actor-ids.ts'
import { VERSION } from '../version.ts'
import { EXIT, exitCodeOf, oneLine } from './exit-codes.ts'
import { CLI_OPTIONS, HELP, parseCli, UsageError } from './options.ts'

// a reader that goes away (`switchboard start | head -1`) must not take the daemon with it: from
// then on that output is dropped (Node ignores SIGPIPE; the write error arrives here)
process.stdout.on('error', () => {})
process.stderr.on('error', () => {})

async function main(argv: string[]): Promise<number> {
  // the client commands (info, peers, pair, join, topics, files, actors, bans): src/cli/commands.ts
  const { commandIndex, runCommand } = await import('./commands.ts')
  const at = commandIndex(argv, CLI_OPTIONS)
  if (at >= 0) return runCommand([argv[at] as string, ...argv.slice(0, at), ...argv.slice(at + 1)])
  let cli: ReturnType<typeof parseCli>
  try {
    cli = parseCli(argv)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`switchboard: ${err.message}\n\n${HELP}`)
    return EXIT.usage
  }
  if (cli.command === 'help') {
    process.stdout.write(HELP)
    return 0
  }
  if (cli.command === 'version') {
    process.stdout.write(`${VERSION}\n`)
    return 0
  }
  if (cli.command === 'call' || cli.command === 'status') {
    const { runCall, runStatus } = await import('./call.ts')
    const dataDir = (await resolveConfig({ ...cli.flags })).dataDir
    return cli.command === 'call' ? runCall(dataDir, cli.method as string, cli.params) : runStatus(dataDir)
  }
  // listen before starting: a signal during start-up stops the daemon once it is up, never half-way;
  // and listen for good: a second signal while stopping must not kill the process before its saves
  let stopping = false
  const stopRequested = new Promise<string>((resolve) => {
    const onSignal = (signal: string) => {
      if (stopping) process.stderr.write(`${signal}: already stopping; finishing the saves first\n`)
      stopping = true
      resolve(signal)
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
  const config = await resolveConfig(cli.flags)
  // loaded only to start: help and usage errors answer without loading libp2p
  const { startDaemon } = await import('../daemon.ts')
  const daemon = await startDaemon(config)
  const info = daemon.core.nodes.info('peer-a')
  const lines = [
    `Switchboard ${VERSION}`,
    `data dir    ${config.dataDir}`,
    `peer id     ${info.peerid}`,
    ...info.addrs.map((a, i) => `${i === 0 ? 'listening  ' : '           '} ${a}`),
    // with --app the start-up URL opens the app; the dashboard moved to /_switchboard/
    `${config.app === undefined ? 'dashboard  ' : 'app        '} ${daemon.url}`,
    ...(config.app === undefined ? [] : [`dashboard   ${daemon.origin}/_switchboard/?token=${daemon.token}`, `app dir     ${config.app}`]),
    `websocket   ${daemon.origin.replace(/^http/, 'ws')}/ws`,
    ...(config.inspect ? [`inspector   ${daemon.origin}/inspect?token=${daemon.token}`] : []),
  ]
  process.stdout.write(`${lines.join('\n')}\n`)
  if (config.logLevel === 'info') logStateChanges(daemon.core.actors.registry, [systemIds.node(''), systemIds.dht('')])
  if (config.logLevel === 'debug') logStateChanges(daemon.core.actors.registry, [''])
  const signal = await stopRequested
  process.stdout.write(`${signal}: stopping\n`)
  try {
    await daemon.close()
  } catch (err) {
    process.stderr.write(`switchboard: error while stopping: ${oneLine((err as Error).message)}\n`)
    stopFinished = true
    return EXIT.failure
  }
  process.stdout.write('stopped\n')
  stopFinished = true
  return EXIT.ok
}

/** Set once `start` has stopped its daemon (or failed to): the process then exits without waiting for the event loop. */
let stopFinished = false

/**
 * One line per state change of the actors whose systemId starts with one of `prefixes`, starting with
 * where each is now. A listener makes the registry build the view of every actor its prefix covers on
 * each of their snapshots: at the default level (nodes and DHTs) one listening to all of them made
 * each event of 100k peer actors cost a third more and each spawn a fifth (bench/profiles/README.md).
 */
function logStateChanges(registry: ActorRegistry, prefixes: string[]): void {
  const shown = new Map<string, string>()
  const show = (systemId: string, value: unknown) => {
    const text = JSON.stringify(value)
    if (shown.get(systemId) === text) return
    shown.set(systemId, text)
    process.stdout.write(`${new Date().toISOString()} ${systemId} ${text}\n`)
  }
  const onChange = (change: RegistryChange) => {
    if (change.type === 'snapshot') show(change.snapshot.systemId, change.snapshot.value)
    else shown.delete(change.systemId)
  }
  for (const prefix of prefixes) {
    for (const s of registry.list(prefix)) show(s.systemId, s.value)
    registry.listen(onChange, prefix)
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
    // a stopped daemon exits at once, not when its last timer fires: the WebRTC-direct listener's
    // native ICE UDP mux (node-datachannel 0.33.4) keeps its thread after libp2p stops it, and a STUN
    // request arriving then crashed the process in 4 of 8 stops (SIGSEGV in
    // IceUdpMuxListener::UnhandledStunRequestCallback, a peer still dialling over WebRTC-direct)
    if (stopFinished) process.stdout.write('', () => process.stderr.write('', () => process.exit(code)))
  },
  (err: Error) => {
    // one line saying what is wrong; the stack only for what nobody expected
    const { code, expected } = exitCodeOf(err)
    process.stderr.write(`switchboard: ${oneLine(err?.message ?? String(err))}\n`)
    if (!expected && err?.stack) process.stderr.write(`${err.stack}\n`)
    process.exitCode = code
  },
)
