import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterAll, describe, expect, it } from 'vitest'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import { freePorts, type ProcessDaemon, startProcessDaemon } from '../support/process-daemon.ts'
import { type ActorWatch, watchActors } from '../support/watch-actors.ts'

interface DhtContextView {
  queued: number
  running: number
  queue: Array<{ kind: string; key: string }>
}

/**
 * Three daemons as separate processes on 127.0.0.1. C starts first, configured to bootstrap from A
 * before A exists, so its DHT is certainly not ready when a provide is enqueued on it; then A starts
 * (on the address C knows, with its identity made in advance) and B bootstraps from A.
 */
describe('a three-daemon DHT on loopback', () => {
  const daemons: ProcessDaemon[] = []
  let dirA: string
  afterAll(async () => {
    await Promise.all(daemons.map((d) => d.destroy()))
    if (dirA) await rm(dirA, { recursive: true, force: true })
  })

  it('every DHT becomes ready; a provide enqueued before ready completes after it and B finds C as provider', async () => {
    // A's identity and address, known before A runs
    dirA = await mkdtemp(join(tmpdir(), 'sb-net-a-'))
    const keyA = await generateKeyPair('Ed25519')
    await writeFile(join(dirA, 'identity.key'), privateKeyToProtobuf(keyA), { mode: 0o600 })
    const peerA = peerIdFromPrivateKey(keyA).toString()
    const portA = await freePorts(1)
    const addrA = `/ip4/127.0.0.1/tcp/${portA}/p2p/${peerA}`

    const c = await startProcessDaemon({ bootstrap: [addrA], args: ['--dht-timeout', '120000'] })
    daemons.push(c)
    const cClient = await c.client()
    const cWatch = await watchActors(cClient, 'dht:peer-a')
    expect(cWatch.latest('dht:peer-a')?.value).toBe('bootstrapping')

    const cid = CID.create(1, raw.code, await sha256.digest(new TextEncoder().encode(`switchboard dht test ${c.peerId}`))).toString()
    let provided = false
    const provide = cClient.call<{ cid: string }>('dht.provide', { cid, timeoutMs: 120_000 }).then((r) => {
      provided = true
      return r
    })
    // the operation waits in the queue of a DHT that is not ready
    const queued = await cWatch.until('dht:peer-a', (s) => (s.context as DhtContextView).queued === 1)
    expect(queued.value).toBe('bootstrapping')
    expect(queued.tags).not.toContain('dhtReady')
    expect((queued.context as DhtContextView).queue).toEqual([expect.objectContaining({ kind: 'provide', key: cid })])
    expect(provided).toBe(false)

    const a = await startProcessDaemon({ dataDir: dirA, listen: [`/ip4/127.0.0.1/tcp/${portA}`], bootstrap: [c.addrs[0] ?? ''] })
    daemons.push(a)
    expect(a.peerId).toBe(peerA)
    const b = await startProcessDaemon({ bootstrap: [addrA] })
    daemons.push(b)

    const aClient = await a.client()
    const bClient = await b.client()
    const nodes: Array<[string, SwitchboardClient, ActorWatch]> = [
      ['a', aClient, await watchActors(aClient, 'dht:peer-a')],
      ['b', bClient, await watchActors(bClient, 'dht:peer-a')],
      ['c', cClient, cWatch],
    ]
    for (const [name, client, watch] of nodes) {
      const ready = await watch.until('dht:peer-a', (s) => s.value === 'ready', 90_000)
      expect(ready.tags, name).toEqual(['dhtReady'])
      expect(await client.call('node.info'), name).toMatchObject({ dhtReady: true })
    }

    // the ready DHT drained the queue, and the caller got its answer
    expect(await provide).toEqual({ cid })
    const drained = await cWatch.until(
      'dht:peer-a',
      (s) => (s.context as DhtContextView).queued === 0 && (s.context as DhtContextView).running === 0,
    )
    expect(drained.value).toBe('ready')
    const cHistory = cWatch.history('dht:peer-a').map((s) => s.value)
    expect(cHistory.indexOf('ready')).toBeGreaterThan(cHistory.indexOf('bootstrapping'))

    const { providers } = await bClient.call<{ providers: Array<{ peerId: string; addrs: string[] }> }>('dht.findProviders', {
      cid,
      timeoutMs: 60_000,
    })
    expect(providers.map((p) => p.peerId)).toContain(c.peerId)
  })

  it('a DHT whose bootstrap peer was down at start becomes ready once it is up, by bootstrapping again on its own', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-net-late-'))
    const key = await generateKeyPair('Ed25519')
    await writeFile(join(dir, 'identity.key'), privateKeyToProtobuf(key), { mode: 0o600 })
    const port = await freePorts(1)
    const addr = `/ip4/127.0.0.1/tcp/${port}/p2p/${peerIdFromPrivateKey(key).toString()}`
    try {
      const late = await startProcessDaemon({ bootstrap: [addr], args: ['--dht-timeout', '1000'] })
      daemons.push(late)
      const watch = await watchActors(await late.client(), 'dht:peer-a')
      // nobody answers: degraded, saying which bootstrap peer could not be reached
      const degraded = await watch.until('dht:peer-a', (s) => s.value === 'degraded')
      expect((degraded.context as { lastError: string | null }).lastError).toContain(`no bootstrap peer reachable (${addr}: `)
      // the bootstrap peer comes up, knowing nothing of us: only our own retry can bring us together
      const seed = await startProcessDaemon({ dataDir: dir, listen: [`/ip4/127.0.0.1/tcp/${port}`] })
      daemons.push(seed)
      const ready = await watch.until('dht:peer-a', (s) => s.value === 'ready', 90_000)
      const values = watch.history('dht:peer-a').map((s) => s.value)
      expect(values.slice(values.indexOf('degraded'))).toEqual(expect.arrayContaining(['degraded', 'bootstrapping', 'ready']))
      expect((ready.context as { attempts: number }).attempts).toBeGreaterThanOrEqual(2)
    } finally {
      await Promise.all(daemons.splice(0).map((d) => d.destroy()))
      await rm(dir, { recursive: true, force: true })
    }
  })
})
