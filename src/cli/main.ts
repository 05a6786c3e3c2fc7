import '../shims.ts'
import { ConfigError, resolveConfig } from '../config.ts'
import { startDaemon } from '../daemon.ts'
import { VERSION } from '../version.ts'
import { HELP, parseCli, UsageError } from './options.ts'

async function main(argv: string[]): Promise<number> {
  let cli
  try {
    cli = parseCli(argv)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`switchboard: ${err.message}\n\n${HELP}`)
    return 2
  }
  if (cli.command === 'help') {
    process.stdout.write(HELP)
    return 0
  }
  if (cli.command === 'version') {
    process.stdout.write(`${VERSION}\n`)
    return 0
  }
  const config = await resolveConfig(cli.flags)
  const daemon = await startDaemon(config)
  const info = daemon.sb.nodeInfo('peer-a')
  const lines = [
    `Switchboard ${VERSION}`,
    `data dir    ${config.dataDir}`,
    `peer id     ${info.peerid}`,
    ...info.addrs.map((a, i) => `${i === 0 ? 'listening  ' : '           '} ${a}`),
    `dashboard   ${daemon.url}`,
    `websocket   ${daemon.origin.replace(/^http/, 'ws')}/ws`,
  ]
  process.stdout.write(`${lines.join('\n')}\n`)
  if (config.logLevel !== 'silent' && config.logLevel !== 'error') {
    daemon.sb.registry.listen((change) => {
      if (change.type === 'snapshot' && (change.snapshot.kind === 'dht' || change.snapshot.kind === 'node')) {
        process.stdout.write(`${new Date().toISOString()} ${change.snapshot.systemId} ${JSON.stringify(change.snapshot.value)}\n`)
      }
    })
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.stdout.write(`${signal}: stopping\n`)
      daemon.close().then(resolve, (err) => {
        process.stderr.write(`switchboard: error while stopping: ${(err as Error).message}\n`)
        resolve()
      })
    }
    process.once('SIGINT', () => stop('SIGINT'))
    process.once('SIGTERM', () => stop('SIGTERM'))
  })
  process.stdout.write('stopped\n')
  return 0
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: Error) => {
    const known = err instanceof ConfigError || ['CorruptFileError', 'DataDirLockedError', 'PortRangeExhaustedError', 'NodeStartError'].includes(err.name)
    process.stderr.write(`switchboard: ${known ? err.message : (err.stack ?? err.message)}\n`)
    process.exitCode = 1
  },
)
