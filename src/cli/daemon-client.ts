import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import WebSocket from 'ws'
import { SwitchboardClient, SwitchboardError, SwitchboardTimeoutError } from '../client/client.ts'
import { EXIT } from './exit-codes.ts'

/** An error the CLI reports as one line and the exit code it carries. */
export class CliError extends Error {
  override name = 'CliError'
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message)
  }
}

/** How to reach the daemon running on a data directory: its origin (daemon.json) and token (api-token). */
export interface DaemonAddress {
  dataDir: string
  origin: string
  pid: number
  token: string
}

export async function daemonAddress(dataDir: string): Promise<DaemonAddress> {
  let run: { pid: number; origin: string }
  try {
    run = JSON.parse(await readFile(join(dataDir, 'daemon.json'), 'utf8'))
  } catch {
    throw new CliError(`no daemon is running on ${dataDir} (start one with: switchboard start)`, EXIT.unreachable)
  }
  let token: string
  try {
    token = (await readFile(join(dataDir, 'api-token'), 'utf8')).trim()
  } catch (err) {
    throw new CliError(`cannot read the token ${join(dataDir, 'api-token')}: ${(err as Error).message}`, EXIT.unauthorized)
  }
  return { dataDir, origin: run.origin, pid: run.pid, token }
}

/**
 * The typed client (src/client) connected to the daemon, without reconnect: a command that loses
 * its daemon says so and exits. A connection that fails is told apart by asking /health (no answer:
 * unreachable) and /metrics with the token (401: the token is wrong).
 */
export async function connectDaemon(addr: DaemonAddress, timeoutMs = 30_000): Promise<SwitchboardClient> {
  try {
    return await SwitchboardClient.connect(`${addr.origin.replace(/^http/, 'ws')}/ws`, {
      token: addr.token,
      WebSocket: WebSocket as unknown as never,
      reconnect: false,
      timeoutMs,
    })
  } catch {
    throw await whyUnreachable(addr)
  }
}

async function whyUnreachable(addr: DaemonAddress): Promise<CliError> {
  const unreachable = new CliError(`the daemon on ${addr.dataDir} (pid ${addr.pid}) does not answer at ${addr.origin}`, EXIT.unreachable)
  try {
    await fetch(`${addr.origin}/health`, { signal: AbortSignal.timeout(5000) })
  } catch {
    return unreachable
  }
  try {
    const res = await fetch(`${addr.origin}/metrics`, {
      headers: { authorization: `Bearer ${addr.token}` },
      signal: AbortSignal.timeout(5000),
    })
    await res.body?.cancel()
    if (res.status === 401 || res.status === 403)
      return new CliError(`the daemon at ${addr.origin} refused the token in ${join(addr.dataDir, 'api-token')} (401)`, EXIT.unauthorized)
  } catch {
    return unreachable
  }
  return new CliError(`cannot open a WebSocket to the daemon at ${addr.origin}`, EXIT.unreachable)
}

/** The exit code for a protocol error code (docs/protocol.md) or an HTTP status. */
export function exitForCode(code: number): number {
  if (code === 0) return EXIT.unreachable
  if (code === 400 || code === 413) return EXIT.usage
  if (code === 401) return EXIT.unauthorized
  if (code === 404) return EXIT.notFound
  if (code === 403 || code === 409 || code === 410) return EXIT.refused
  if (code === 408 || code === 504) return EXIT.timeout
  return EXIT.failure
}

/** Any error a command throws, as the CLI reports it. */
export function asCliError(err: unknown): CliError {
  if (err instanceof CliError) return err
  if (err instanceof SwitchboardTimeoutError) return new CliError(err.message, EXIT.timeout)
  if (err instanceof SwitchboardError) {
    if (err.code === 0) return new CliError(`lost the daemon: ${err.message.replace(/^0: /, '')}`, EXIT.unreachable)
    return new CliError(err.message, exitForCode(err.code))
  }
  return new CliError((err as Error)?.message ?? String(err), EXIT.failure)
}
