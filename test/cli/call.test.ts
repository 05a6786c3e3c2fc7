import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tempDir } from '../support/daemon.ts'
import { type ProcessDaemon, runCli, startProcessDaemon } from '../support/process-daemon.ts'

describe('switchboard call and status against a running daemon', () => {
  let daemon: ProcessDaemon
  beforeAll(async () => {
    daemon = await startProcessDaemon()
  })
  afterAll(async () => {
    await daemon.destroy()
  })

  it('call sends one request and prints the result as JSON', async () => {
    const r = await runCli(['call', 'node.info', '{}', '--data-dir', daemon.dataDir])
    expect(r.code).toBe(0)
    const info = JSON.parse(r.stdout) as { peerid: string; alias: string }
    expect(info.alias).toBe('peer-a')
    expect(info.peerid).toBe(daemon.peerId)
  })

  it('call of getfile and listfiles prints the push that carries their answer, not null', async () => {
    const content = Buffer.from('hello from the CLI').toString('base64')
    const stored = await runCli(['call', 'storefile', JSON.stringify({ path: 'cli/hello.txt', content }), '--data-dir', daemon.dataDir])
    expect(stored.code).toBe(0)
    const { fileCid } = JSON.parse(stored.stdout) as { fileCid: string }
    const got = await runCli(['call', 'getfile', JSON.stringify({ cid: fileCid }), '--data-dir', daemon.dataDir])
    expect(got.code).toBe(0)
    expect(JSON.parse(got.stdout)).toMatchObject({ cid: fileCid, success: true, content: { type: 'file', content } })
    const listed = await runCli(['call', 'listfiles', JSON.stringify({ peerid: daemon.peerId }), '--data-dir', daemon.dataDir])
    expect(listed.code).toBe(0)
    expect(JSON.parse(listed.stdout)).toMatchObject({ peerid: daemon.peerId, entries: { 'cli/hello.txt': { type: 'file', cid: fileCid } } })
  })

  it('call reports the protocol error and exits 2 for a bad argument', async () => {
    const r = await runCli(['call', 'peers.connect', '{"peerId":"nope"}', '--data-dir', daemon.dataDir])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('400: peerId:')
    expect(r.stderr).toContain('"nope" is not a valid peer id')
  })

  it('call refuses params that are not JSON before connecting', async () => {
    const r = await runCli(['call', 'node.info', '{oops', '--data-dir', daemon.dataDir])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('params is not valid JSON')
  })

  it('status shows the peer and its actors', async () => {
    const r = await runCli(['status', '--data-dir', daemon.dataDir])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(daemon.peerId)
    expect(r.stdout).toMatch(/node:peer-a\s+"running"/)
    expect(r.stdout).toMatch(/dht:peer-a\s+"(bootstrapping|degraded|ready)"/)
  })

  it('says so when no daemon runs on the data directory', async () => {
    const r = await runCli(['status', '--data-dir', await tempDir()])
    expect(r.code).toBe(8)
    expect(r.stderr).toContain('no daemon is running on')
  })
})
