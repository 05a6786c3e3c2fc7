import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'

/** The CID go-libp2p's routing discovery provides for a namespace: CIDv1, raw codec, sha256 of the name. */
export async function topicCid(topic: string): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(topic)))
}
