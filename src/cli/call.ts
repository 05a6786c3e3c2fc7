import type { SwitchboardClient } from '../client/client.ts'
import { parseSystemId } from '../machines/actor-ids.ts'
import { asCliError, connectDaemon, daemonAddress } from './daemon-client.ts'
import { EXIT } from './exit-codes.ts'

/** Run `fn` against the daemon on `dataDir`; a failure is one line on stderr and the exit code of its kind (exit-codes.ts). */
async function withClient(dataDir: string, fn: (c: SwitchboardClient) => Promise<void>): Promise<number> {
  let client: SwitchboardClient | undefined
  try {
    client = await connectDaemon(await daemonAddress(dataDir))
    await fn(client)
    return EXIT.ok
  } catch (err) {
    const e = asCliError(err)
    process.stderr.write(`switchboard: ${e.message}\n`)
    return e.exitCode
  } finally {
    await client?.close()
  }
}

type Fields = Record<string, unknown>

/** p2p-webapp's calls that answer null and deliver their result as a push: `call` prints that push. */
const ANSWERED_BY_PUSH: Record<string, { push: string; answers: (params: Fields, push: Fields) => boolean }> = {
  getfile: { push: 'gotFile', answers: (params, push) => push.cid === params.cid },
  listfiles: { push: 'peerFiles', answers: (params, push) => push.peerid === params.peerid },
}

export function runCall(dataDir: string, method: string, params: unknown): Promise<number> {
  return withClient(dataDir, async (c) => {
    const byPush = ANSWERED_BY_PUSH[method]
    // listen before asking: the push may come before the answer
    // `call` takes any name a user types; the daemon checks it (400 for an unknown method)
    const callAny = c.call.bind(c) as unknown as (name: string, params: unknown) => Promise<unknown>
    const waitAny = c.waitFor.bind(c) as unknown as (name: string, match: (push: Fields) => boolean) => Promise<Fields>
    const pushed = byPush && waitAny(byPush.push, (push) => byPush.answers((params ?? {}) as Fields, push))
    pushed?.catch(() => {})
    const result = await callAny(method, params)
    process.stdout.write(`${JSON.stringify(pushed ? await pushed : result, null, 2)}\n`)
  })
}

export function runStatus(dataDir: string): Promise<number> {
  return withClient(dataDir, async (c) => {
    const info = await c.call('node.info', {})
    const { actors } = await c.call('actors.list', {})
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
