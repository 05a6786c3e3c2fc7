import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { type WebSocket as ServerSocket, WebSocketServer } from 'ws'
import type { NodeHandle } from '../../src/p2p/node-factory.ts'
import { startRawNode } from '../support/raw-node.ts'

/**
 * A WebSocket server that holds each upgrade until the test lets it through: a dial to it is
 * aborted while its socket is still connecting, as the dials were that a partition left waiting
 * for a SYN to get through. The socket must not open later and sit there: a socket that opens
 * after its dial gave up is closed.
 */
describe('a WebSocket dial that was aborted', () => {
  let node: NodeHandle | undefined
  let server: Server | undefined
  let wss: WebSocketServer | undefined
  afterEach(async () => {
    await node?.stop()
    wss?.close()
    await new Promise((r) => server?.close(r) ?? r(undefined))
  })

  it('closes its socket when it opens later', async () => {
    const held: Array<() => void> = []
    const sockets: ServerSocket[] = []
    const closed: ServerSocket[] = []
    server = createServer()
    wss = new WebSocketServer({
      server,
      // the upgrade waits for the test
      verifyClient: (_info, done) => held.push(() => done(true)),
    })
    wss.on('connection', (socket) => {
      sockets.push(socket)
      socket.on('close', () => closed.push(socket))
    })
    await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r))
    const port = (server.address() as AddressInfo).port

    node = await startRawNode()
    const someone = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const abort = new AbortController()
    const dial = node.libp2p.dial(multiaddr(`/ip4/127.0.0.1/tcp/${port}/ws/p2p/${someone}`), { signal: abort.signal })
    const failed = dial.then(
      () => undefined,
      (err: Error) => err,
    )
    await vi.waitFor(() => expect(held.length).toBe(1), { timeout: 10_000 })
    abort.abort(new Error('given up'))
    expect(await failed).toBeInstanceOf(Error)

    // now the upgrade goes through: the dialler, which gave up, closes the socket
    for (const let_through of held) let_through()
    await vi.waitFor(() => expect(sockets.length).toBe(1), { timeout: 10_000 })
    await vi.waitFor(() => expect(closed).toEqual(sockets), { timeout: 10_000 })
  })
})
