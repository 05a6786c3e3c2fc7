/**
 * The exit codes of `switchboard`, one per kind of failure a script or service manager may want to
 * tell apart (documented in the README). Each comes with one line on stderr saying what is wrong.
 */
export const EXIT = {
  ok: 0,
  /** Anything unexpected, and a stop whose saves failed. */
  failure: 1,
  /** A flag or command the CLI does not accept. */
  usage: 2,
  /** config.json, an environment variable or a flag value is wrong, the data directory path included (a file, not a directory). */
  config: 3,
  /** Another daemon uses the data directory. */
  locked: 4,
  /** The data directory or a file in it cannot be used (cannot be created or written, unreadable or corrupt identity or token). */
  dataDir: 5,
  /** The HTTP server cannot listen (every port in the range taken, unknown host, no permission). */
  listen: 6,
  /** The daemon's own libp2p node did not start (a listen address taken or refused). */
  node: 7,
  /** No daemon runs on the data directory, or it does not answer (also: it went away mid-command). */
  unreachable: 8,
  /** The daemon refused the token read from the data directory (401). */
  unauthorized: 9,
  /** What the command names does not exist: an unknown peer, path, ban or pairing (404). */
  notFound: 10,
  /** The daemon or the other device refused: an expired, used or cancelled ticket, a wrong proof, a conflict (403, 409, 410); a pairing that expired or was cancelled. */
  refused: 11,
  /** No answer in time, or a peer that could not be reached (504, 408; `peers connect` that failed). */
  timeout: 12,
  /** Stopped by Ctrl-C (SIGINT) before it finished (`pair`: the pairing is cancelled). */
  interrupted: 130,
} as const

const BY_ERROR: Record<string, number> = {
  ConfigError: EXIT.config,
  DataDirLockedError: EXIT.locked,
  DataDirError: EXIT.dataDir,
  CorruptFileError: EXIT.dataDir,
  PortRangeExhaustedError: EXIT.listen,
  HttpListenError: EXIT.listen,
  NodeStartError: EXIT.node,
}

/** The exit code for an error thrown while starting, and whether it is one the message fully explains. */
export function exitCodeOf(err: unknown): { code: number; expected: boolean } {
  const code = BY_ERROR[(err as Error)?.name ?? '']
  return code === undefined ? { code: EXIT.failure, expected: false } : { code, expected: true }
}

/** One line, whatever the message holds: its lines joined, stack frames (libp2p puts some in its messages) left out. */
export const oneLine = (message: string) =>
  message
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^at .+/.test(l))
    .join('; ')
    .replace(/:;/g, ':')
