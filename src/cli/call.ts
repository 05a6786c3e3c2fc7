import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { SwitchboardClient, type SwitchboardError } from '../client/switchboard-client.ts'
import { parseSystemId } from '../machines/actor-ids.ts'

interface RunFile {
  pid: number
  origin: string
}

/** Connect to the daemon running on `dataDir`, with the token it keeps there. */
async function connect(dataDir: string): Promise<SwitchboardClient> {
  let run: RunFile
  let token: string
  try {
    run = JSON.parse(await readFile(join(dataDir, 'daemon.json'), 'utf8')) as RunFile
    token = (await readFile(join(dataDir, 'api-token'), 'utf8')).trim()
  } catch {
    throw new Error(`no daemon is running on ${dataDir} (start one with: switchboard start)`)
  }
  try {
    return await SwitchboardClient.connect(`${run.origin.replace(/^http/, 'ws')}/ws`, { token })
  } catch {
    throw new Error(`the daemon on ${dataDir} (pid ${run.pid}) does not answer at ${run.origin}`)
  }
}

async function withClient(dataDir: string, fn: (c: SwitchboardClient) => Promise<void>): Promise<number> {
  let client: SwitchboardClient
  try {
    client = await connect(dataDir)
  } catch (err) {
    process.stderr.write(`switchboard: ${(err as Error).message}\n`)
    return 1
  }
  try {
    await fn(client)
    return 0
  } catch (err) {
    const e = err as SwitchboardError
    process.stderr.write(`switchboard: ${e.message}\n`)
    return 1
  } finally {
    await client.close()
  }
}

export function runCall(dataDir: string, method: string, params: unknown): Promise<number> {
  return withClient(dataDir, async (c) => {
    const result = await c.call(method, params)
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
  })
}

export function runStatus(dataDir: string): Promise<number> {
  return withClient(dataDir, async (c) => {
    const info = await c.call<{ peerid: string; alias: string; addrs: string[]; dhtReady: boolean; version: string; connections: number }>(
      'node.info',
    )
    const { actors } = await c.call<{ actors: Array<{ systemId: string; value: unknown }> }>('actors.list', {})
    const lines = [
      `Switchboard ${info.version}: ${info.alias} ${info.peerid}`,
      `dht ready   ${info.dhtReady}`,
      `connections ${info.connections}`,
      ...info.addrs.map((a, i) => `${i === 0 ? 'addresses  ' : '           '} ${a}`),
      'actors:',
      ...actors
        .filter((a) => parseSystemId(a.systemId)?.kind !== 'peers')
        .map((a) => `  ${a.systemId.padEnd(40)} ${JSON.stringify(a.value)}`),
    ]
    process.stdout.write(`${lines.join('\n')}\n`)
  })
}
