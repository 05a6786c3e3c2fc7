/**
 * Aborted-upload churn against any running daemon (in this process or its own), for the soak
 * script and the tests: PUTs that hang up mid-body, then collections until nothing an upload wrote
 * is still being torn down. Counts come from the daemon's own `files.gc` reports.
 */
import type { GcReport } from '../../src/actors/files/file-store.ts'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import { noise, openPut } from './support.ts'

const MiB = 1024 * 1024

export interface ChurnTarget {
  origin: string
  token: string
  client(): Promise<SwitchboardClient>
}

export interface ChurnCounts {
  uploads: number
  /** Blocks in the store after a collection before the churn, and after the churn's last one: equal when every aborted upload was reclaimed (and nothing else changed the store). */
  blocksBefore: number
  blocksAfter: number
  /** Blocks the churn's `files.gc` calls freed (the daemon's own collection after each abort frees the rest). */
  freed: number
  /** The last collection's view: blocks in the store, referenced by directories, cached, kept by uploads in progress. */
  blocks: number
  referenced: number
  cached: number
  kept: number
  /** Blocks the last collection saw that nothing keeps (0 when it freed everything it should). */
  unreferenced: number
}

export async function abortedUploadsChurn(
  target: ChurnTarget,
  opts: { rounds?: number; sentBytes?: number; seed?: number } = {},
): Promise<ChurnCounts> {
  const rounds = opts.rounds ?? 3
  // past the importer's first batch of ten 1 MiB leaves, so each abort leaves blocks behind
  const sent = opts.sentBytes ?? 12 * MiB
  const seed = opts.seed ?? Date.now()
  const client = await target.client()
  try {
    const first = await client.call<GcReport>('files.gc', {})
    await hangUps(target, rounds, sent, seed)
    let freed = 0
    let last: GcReport
    const until = Date.now() + 60_000
    do {
      last = await client.call<GcReport>('files.gc', {})
      freed += last.freed
      // an upload the daemon has not yet seen fail keeps its blocks: collect again once it has
    } while (last.kept > 0 && Date.now() < until)
    return {
      uploads: rounds,
      blocksBefore: first.blocks - first.freed,
      blocksAfter: last.blocks - last.freed,
      freed,
      blocks: last.blocks,
      referenced: last.referenced,
      cached: last.cached,
      kept: last.kept,
      unreferenced: last.blocks - last.freed - last.referenced - last.cached - last.kept,
    }
  } finally {
    await client.close()
  }
}

/** `rounds` PUTs that each declare four times `sent` bytes and hang up after `sent`. */
async function hangUps(target: ChurnTarget, rounds: number, sent: number, seed: number): Promise<void> {
  for (let r = 0; r < rounds; r++) {
    await abortedPut(target, `/files/peer-a/churn/aborted-${seed}-${r}.bin`, sent * 4, seed + r * 1000, async (bytes) => bytes >= sent)
  }
}

/**
 * A PUT that declares `declaredBytes`, sends 1 MiB chunks of noise until `enough(sentSoFar)` holds
 * (at most `declaredBytes`), then hangs up; resolves once the connection is closed.
 */
export async function abortedPut(
  target: Pick<ChurnTarget, 'origin' | 'token'>,
  path: string,
  declaredBytes: number,
  seed: number,
  enough: (sent: number) => Promise<boolean>,
): Promise<void> {
  const upload = openPut(target, path, { 'content-length': declaredBytes })
  let sent = 0
  while (sent + MiB <= declaredBytes && !(await enough(sent))) {
    await upload.write(noise(MiB, seed + sent / MiB)).catch(() => {})
    sent += MiB
  }
  upload.req.destroy()
  await upload.closed
}
