import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ProcessDaemon, startProcessDaemon } from '../support/process-daemon.ts'
import { noise, type PeerFiles } from './support.ts'

const MiB = 1024 * 1024
const SIZE = 200 * MiB
const CHUNK = MiB

/** The file, generated chunk by chunk so the test process never holds it either. */
async function* content(): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < SIZE / CHUNK; i++) yield noise(CHUNK, i + 1)
}

/** Peak and current resident memory of a process, in bytes (Linux /proc). */
async function memoryOf(pid: number): Promise<{ hwm: number; rss: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024
  return { hwm: kib('VmHWM'), rss: kib('VmRSS') }
}

describe('a 200 MiB file over HTTP, in a daemon of its own process', () => {
  let d: ProcessDaemon
  beforeAll(async () => {
    d = await startProcessDaemon()
  })
  afterAll(async () => {
    await d?.destroy()
  })

  it('goes in with PUT and out with GET, streamed: the daemon grows by less than 200 MiB', async () => {
    const pid = d.child.pid as number
    const auth = { authorization: `Bearer ${d.token}` }
    // settle start-up allocations so the baseline is the idle daemon, not its boot
    await fetch(`${d.origin}/health`)
    const before = await memoryOf(pid)

    const sent = createHash('sha256')
    const body = (async function* () {
      for await (const chunk of content()) {
        sent.update(chunk)
        yield chunk
      }
    })()
    const put = await fetch(`${d.origin}/files/peer-a/video/big.bin`, {
      method: 'PUT',
      headers: auth,
      body: body as unknown as BodyInit,
      duplex: 'half',
    } as RequestInit)
    expect(put.status).toBe(200)
    const { fileCid } = (await put.json()) as { fileCid: string }

    const got = await fetch(`${d.origin}/files/peer-a/video/big.bin`, { headers: auth })
    expect(got.status).toBe(200)
    expect(got.headers.get('content-length')).toBe(String(SIZE))
    const received = createHash('sha256')
    let bytes = 0
    for await (const chunk of got.body as unknown as AsyncIterable<Uint8Array>) {
      received.update(chunk)
      bytes += chunk.length
    }
    expect(bytes).toBe(SIZE)
    expect(received.digest('hex')).toBe(sent.digest('hex'))

    // a range in the middle, across a chunk boundary
    const offset = 150 * MiB - 10
    const part = await fetch(`${d.origin}/ipfs/${fileCid}`, { headers: { ...auth, range: `bytes=${offset}-${offset + 19}` } })
    expect(part.status).toBe(206)
    const expected = Buffer.concat([Buffer.from(noise(CHUNK, 150)).subarray(CHUNK - 10), Buffer.from(noise(CHUNK, 151)).subarray(0, 10)])
    expect(Buffer.from(await part.arrayBuffer()).equals(expected)).toBe(true)

    const after = await memoryOf(pid)
    const growth = after.hwm - before.hwm
    expect(growth).toBeLessThan(200 * MiB)

    // and it is in the directory like any other file
    const client = await d.client()
    const listed = client.waitFor<PeerFiles>('peerFiles')
    await client.call('listfiles', { peerid: d.peerId })
    expect((await listed).entries['video/big.bin']).toEqual({ type: 'file', cid: fileCid, mimeType: 'application/octet-stream' })
  }, 300_000)
})
