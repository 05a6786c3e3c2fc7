import '../src/shims.ts'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { unixfs } from '@helia/unixfs'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import toBuffer from 'it-to-buffer'
import type { CID } from 'multiformats/cid'
import { walkBlocks } from '../src/p2p/files/directory.ts'
import { createNode, type NodeHandle } from '../src/p2p/node-factory.ts'
import { startTestDaemon, type TestDaemon, tempDir } from '../test/support/daemon.ts'
import { appendResults, fmt, markdownTable, median, resultSection, runIfMain } from './machine.ts'
import { noise } from '../test/files/support.ts'

/**
 * Sync throughput between two daemons on loopback: daemon B holds a 100 MiB directory (four files
 * of 25 MiB, fresh random content each round), daemon A syncs it (sync service: root over
 * /switchboard/sync/1.0.0, then every block over bitswap, then the replica swap). In the same run,
 * two plain Helia nodes built like the daemons fetch the very same DAG (its blocks copied from B to
 * one of them): the whole DAG with `pins.add`, and each file with `unixfs.cat`.
 *
 * Prints its section; `--record` also appends it to bench/results.md.
 */

const MiB = 1024 * 1024
const FILES = 4
const FILE_MIB = 25
const ROUNDS = 3

const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000)

async function rawHelia(dir: string): Promise<NodeHandle> {
  return createNode({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: [],
    mdns: false,
    dhtProtocol: '/bench-sync/kad/1.0.0',
    allowPrivateAddresses: true,
    storageDir: dir,
  })
}

const files = (d: TestDaemon) => d.core.nodes.services('peer-a').files.service

/** B's directory becomes `FILES` fresh files under bench/; returns its root and every block of it. */
async function freshDirectory(b: TestDaemon, round: number): Promise<{ root: CID; blocks: CID[]; files: CID[]; bytes: number }> {
  const service = files(b)
  await service.removeFile('bench').catch(() => {})
  const fileCids: CID[] = []
  for (let i = 0; i < FILES; i++) {
    const stored = await service.storeFile(`bench/part-${i}.bin`, noise(FILE_MIB * MiB, round * 100 + i + 1), false)
    fileCids.push(stored.fileCid)
  }
  const root = service.root
  const blocks: CID[] = []
  const store = b.core.nodes.handle('peer-a').blockstore
  await walkBlocks(root, (cid) => toBuffer(store.get(cid)), blocks)
  let bytes = 0
  for (const cid of blocks) bytes += (await toBuffer(store.get(cid))).length
  return { root, blocks, files: fileCids, bytes }
}

export async function run(opts: { record?: boolean } = {}) {
  const [aDir, bDir, xDir, yDir] = await Promise.all([
    tempDir('bench-sync-'),
    tempDir('bench-sync-'),
    tempDir('bench-sync-'),
    tempDir('bench-sync-'),
  ])
  const a = await startTestDaemon({}, aDir)
  const b = await startTestDaemon({}, bDir)
  const x = await rawHelia(join(xDir, 'node'))
  const y = await rawHelia(join(yDir, 'node'))
  const figures = { sync: [] as number[], pins: [] as number[], cat: [] as number[], blocks: 0, bytes: 0 }
  try {
    // B knows A (so it answers A's syncs); A does not know B, so its peer actors never sync B on
    // their own (on connect or on B's change notices): every sync measured is the bench's
    const [ca, cb] = await Promise.all([a.client(), b.client()])
    await cb.call('peers.update', { peerId: a.peerId, known: true, autoConnect: false })
    const bAddr = b.core.nodes.info('peer-a').addrs.find((s) => s.includes('/127.0.0.1/tcp/') && !s.includes('/ws'))
    if (bAddr === undefined) throw new Error('no loopback address for B')
    await a.core.nodes.handle('peer-a').libp2p.peerStore.merge(peerIdFromString(b.peerId), { multiaddrs: [multiaddr(bAddr)] })
    await y.libp2p.dial(x.libp2p.getMultiaddrs()[0] ?? multiaddr('/ip4/127.0.0.1/tcp/1'))
    const sync = a.core.nodes.services('peer-a').sync
    const yfs = unixfs(y.helia)

    for (let round = 0; round < ROUNDS; round++) {
      process.stdout.write(`sync: round ${round + 1} of ${ROUNDS} (${FILES * FILE_MIB} MiB)...\n`)
      const dir = await freshDirectory(b, round)
      figures.blocks = dir.blocks.length
      figures.bytes = dir.bytes
      // raw Helia's source holds the same blocks
      const bStore = b.core.nodes.handle('peer-a').blockstore
      for (const cid of dir.blocks) await x.blockstore.put(cid, await toBuffer(bStore.get(cid)))

      const runSync = async () => {
        const started = performance.now()
        const result = await sync.sync(b.peerId, { signal: AbortSignal.timeout(300_000) })
        const ms = performance.now() - started
        if (result.root !== dir.root.toString()) throw new Error('synced another root')
        figures.sync.push(mbps(result.bytes, ms))
        // next round fetches everything again
        await sync.dropReplica(b.peerId)
        await ca.call('files.gc', {})
      }
      /**
       * A fresh connection before each raw fetch: Helia's bitswap never sends cancels, and a peer
       * that sent a block within 5 s ignores a new want of it on the same connection (see sync.ts #want).
       */
      const reconnect = async () => {
        await y.libp2p.hangUp(x.libp2p.peerId)
        await y.libp2p.dial(x.libp2p.getMultiaddrs()[0] ?? multiaddr('/ip4/127.0.0.1/tcp/1'))
      }
      const runPins = async () => {
        await reconnect()
        const started = performance.now()
        for await (const _ of y.helia.pins.add(dir.root, { signal: AbortSignal.timeout(300_000) })) void _
        figures.pins.push(mbps(dir.bytes, performance.now() - started))
        await y.helia.pins.rm(dir.root)
        for (const cid of dir.blocks) await y.blockstore.delete(cid)
      }
      const runCat = async () => {
        await reconnect()
        const started = performance.now()
        let n = 0
        for (const file of dir.files) for await (const chunk of yfs.cat(file)) n += chunk.length
        if (n !== FILES * FILE_MIB * MiB) throw new Error(`cat returned ${n} bytes`)
        figures.cat.push(mbps(dir.bytes, performance.now() - started))
        for (const cid of dir.blocks) await y.blockstore.delete(cid)
      }
      const order = round % 2 === 0 ? [runSync, runPins, runCat] : [runCat, runPins, runSync]
      for (const step of order) await step()
      for (const cid of dir.blocks) await x.blockstore.delete(cid)
    }

    const s = median(figures.sync)
    const p = median(figures.pins)
    const c = median(figures.cat)
    const body = [
      '### Sync of a 100 MiB directory between two daemons on loopback',
      '',
      `Daemon B holds ${FILES} files of ${FILE_MIB} MiB (${figures.blocks} blocks, ${fmt(figures.bytes / 1e6)} MB with the directory and file nodes), fresh random content each round; daemon A, holding none of it, runs \`sync\` (root over /switchboard/sync/1.0.0, every block over bitswap, 32 at once, then the replica swap) and afterwards drops the replica and collects. Raw Helia: two plain Helia nodes built like the daemons, one holding the same blocks, the other fetching the whole DAG with \`pins.add\` (depth-first walk) or each file with \`unixfs.cat\`.`,
      `MB/s = 10^6 bytes per second, median of ${ROUNDS} rounds (order alternated); ratio = sync / raw Helia.`,
      '',
      markdownTable(
        ['Path', 'MB/s (median)', 'rounds', 'sync ratio'],
        [
          ['Switchboard sync', fmt(s), figures.sync.map((v) => fmt(v)).join(', '), '1.00x'],
          ['raw Helia pins.add', fmt(p), figures.pins.map((v) => fmt(v)).join(', '), `${fmt(s / p)}x`],
          ['raw Helia unixfs.cat', fmt(c), figures.cat.map((v) => fmt(v)).join(', '), `${fmt(s / c)}x`],
        ],
      ),
    ].join('\n')
    const section = resultSection('sync', body)
    process.stdout.write(`\n${section}\n`)
    if (opts.record === true) await appendResults(section)
    return figures
  } finally {
    await Promise.allSettled([a.destroy(), b.destroy(), x.stop(), y.stop()])
    await Promise.all([aDir, bDir, xDir, yDir].map((d) => rm(d, { recursive: true, force: true })))
  }
}

runIfMain(import.meta.url, () => run({ record: process.argv.includes('--record') }))
