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
