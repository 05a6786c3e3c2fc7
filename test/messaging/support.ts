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
