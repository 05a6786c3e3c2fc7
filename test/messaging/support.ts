import type { Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { decodeMessageFrame, type MessageFrame, messageFrameDecoder } from '../../src/p2p/message-codec.ts'
import type { NodeHandle } from '../../src/p2p/node-factory.ts'
import { type TestDaemon, tcpAddrOf } from '../support/daemon.ts'

/** A frame as a p2p-webapp Go peer writes it (writeMessage): 4-byte big-endian length, then the JSON. */
export function goFrame(json: string): Uint8Array {
  const body = new TextEncoder().encode(json)
  const frame = new Uint8Array(4 + body.length)
  new DataView(frame.buffer).setUint32(0, body.length)
  frame.set(body, 4)
  return frame
}

/** The `ack` push. */
export interface Ack {
  ack: number
  delivered: boolean
  error?: string
}

/** The `peerData` push. */
export interface PeerData {
  peer: string
  protocol: string
  data: unknown
}

/** A daemon's plain TCP listen address. */

/** `raw` dials `daemon` and opens a `protocol` stream; every frame the daemon answers lands in `answers`. */
export async function openRawStream(
  raw: NodeHandle,
  daemon: TestDaemon,
  protocol: string,
): Promise<{ stream: Stream; answers: MessageFrame[] }> {
  await raw.libp2p.dial(multiaddr(tcpAddrOf(daemon)))
  const stream = await raw.libp2p.dialProtocol(peerIdFromString(daemon.peerId), protocol)
  const decoder = messageFrameDecoder()
  const answers: MessageFrame[] = []
  stream.addEventListener('message', (evt) => {
    for (const body of decoder.decode(evt.data)) answers.push(decodeMessageFrame(body))
  })
  return { stream, answers }
}
