import '../../src/shims.ts'
import { rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { unixfs } from '@helia/unixfs'
import { FsBlockstore } from 'blockstore-fs'
import { tempDir } from '../../test/support/daemon.ts'
import { CLI_ARGS } from '../../test/support/process-daemon.ts'
import { spawnBenchChild } from './bench-child.ts'

/**
 * The raw library in the daemons' topology, for bench/files.ts: a bare `node:http` server in its own
 * process whose PUT streams the request body into `unixfs.addByteStream` over a plain blockstore-fs
 * FsBlockstore (as the daemons' blocks are kept: a file per block, written to a temp file and
 * renamed), and answers `{"fileCid": ...}`. No limits, no directory, no counting, no libp2p: the same
 * client, the same HTTP hop between two processes and the same importer as a Switchboard store, and
 * nothing else.
 *
 * Run as a script it prints one line, `raw-files http://127.0.0.1:<port>`.
 */

export interface RawFilesServer {
  origin: string
  stop(): Promise<void>
}

/** Start the server in its own process (from the current sources through tsx). */
export async function startRawFilesServer(): Promise<RawFilesServer> {
  const child = spawnBenchChild([...CLI_ARGS.slice(0, 2), fileURLToPath(import.meta.url)], {
    what: 'raw files server',
    // the daemons' profiling preload (BENCH_DAEMON_NODE_OPTIONS) is not for this process;
    // BENCH_RAW_NODE_OPTIONS profiles it the same way (CPU_PROF_DIR and the preload)
    env: { ...process.env, NODE_OPTIONS: process.env.BENCH_RAW_NODE_OPTIONS ?? '' },
  })
  const line = await child.line('raw-files ')
  return { origin: line.split(' ')[1] ?? '', stop: () => child.stop() }
}

async function main(): Promise<void> {
  const dir = await tempDir('bench-raw-files-')
  const blockstore = new FsBlockstore(join(dir, 'blocks'))
  await blockstore.open()
  const fs = unixfs({ blockstore } as unknown as Parameters<typeof unixfs>[0])
  const server = createServer((req, res) => {
    if (req.method !== 'PUT') {
      res.writeHead(405).end()
      return
    }
    fs.addByteStream(req).then(
      (cid) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ fileCid: cid.toString() })),
      (e: Error) => res.writeHead(500).end(e.message),
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  process.stdout.write(`raw-files http://127.0.0.1:${port}\n`)
  process.once('SIGTERM', () => {
    server.close()
    void blockstore
      .close()
      .then(() => rm(dir, { recursive: true, force: true }))
      .finally(() => process.exit(0))
  })
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) void main()
