/**
 * Two mends to Helia's bitswap (4.0.19) so that a block wanted again comes again. Without them a
 * peer that fetched a block, dropped it (a cache eviction, an aborted sync) and wants it again
 * stalls until its deadline (the gateway's 504):
 *
 * - Serving side: the ledger keeps a want it served as "sent" for 5 s, then drops it, and
 *   requesters never send cancels; a new want within 5 s is taken for the old one, and after that
 *   the expired entry is swept together with the new want. Go's bitswap forgets a want once it
 *   served it; here every want that arrives for a block already sent is a new request.
 * - Asking side: a received block's want stays in the wantlist, flagged, until the next send (10 ms
 *   debounce); a want made meanwhile joins it and is dropped with it, never sent. Here the want
 *   leaves the wantlist as its block arrives.
 *
 * Neither the ledger nor the wantlist is public API: their shapes are checked at start and, when
 * they do not match (another bitswap version), nothing is changed and `log` says so;
 * test/p2p/bitswap-rewant.test.ts fails then too.
 */
import type { PeerId } from '@libp2p/interface'
import { CID } from 'multiformats/cid'

interface LedgerWant {
  cid: CID
  status: 'want' | 'sending' | 'sent'
}

interface WireWant {
  cid: Uint8Array
  cancel?: boolean
}

interface Ledger {
  wants: Map<string, LedgerWant>
  addWants(list: { full?: boolean; entries: WireWant[] }): void
  queueSendOperation(message?: undefined): void
}

interface Bitswap {
  network: EventTarget
  peerWantLists: { ledgerMap: { get(peer: PeerId): Ledger | undefined } }
  wantList: EventTarget & { wants: Map<string, { cid: CID }>; peers: { values(): Iterable<Set<string>> } }
}

interface MessageEvent {
  detail: { connection: { remotePeer: PeerId }; message: { wantlist?: { entries: WireWant[] } } }
}

interface BlockEvent {
  detail: { cid: CID }
}

const hashKey = (cid: CID) => Buffer.from(cid.multihash.bytes).toString('base64')

function bitswapOf(helia: unknown): Bitswap | undefined {
  const brokers = (helia as { blockBrokers?: unknown[] }).blockBrokers
  const broker = brokers?.find((b) => (b as { name?: string }).name === 'bitswap') as { bitswap?: Partial<Bitswap> } | undefined
  const b = broker?.bitswap
  const ok =
    typeof b?.network?.addEventListener === 'function' &&
    typeof b.peerWantLists?.ledgerMap?.get === 'function' &&
    typeof b.wantList?.addEventListener === 'function' &&
    b.wantList.wants instanceof Map &&
    typeof b.wantList.peers?.values === 'function'
  return ok ? (b as Bitswap) : undefined
}

/** The key of `cid`'s entry in a map keyed by bitswap's own encoding of the multihash. */
function findKey(map: Map<string, { cid: CID }>, cid: CID): string | undefined {
  const wanted = hashKey(cid)
  for (const [key, entry] of map) if (hashKey(entry.cid) === wanted) return key
  return undefined
}

/** Call once the node has started (bitswap joins Helia on start). */
export function mendBitswapWants(helia: unknown, log: (msg: string) => void = () => {}): void {
  const bitswap = bitswapOf(helia)
  if (bitswap === undefined) {
    log('bitswap: its wantlist and ledger are not the ones this daemon knows; a block wanted again may not come again')
    return
  }

  // asking side: registered before any want's own listener, so the wantlist is clean when the want resolves
  bitswap.wantList.addEventListener('block', (evt) => {
    const { wants, peers } = bitswap.wantList
    const key = findKey(wants, (evt as unknown as BlockEvent).detail.cid)
    if (key === undefined) return
    wants.delete(key)
    for (const sent of peers.values()) sent.delete(key)
  })

  // serving side: registered after the ledger's own listener, so the message is in the ledger already
  bitswap.network.addEventListener('bitswap:message', (evt) => {
    const { connection, message } = (evt as unknown as MessageEvent).detail
    const wanted = message.wantlist?.entries.filter((e) => e.cancel !== true) ?? []
    if (wanted.length === 0) return
    const ledger = bitswap.peerWantLists.ledgerMap.get(connection.remotePeer)
    if (ledger === undefined || !(ledger.wants instanceof Map)) return
    const byHash = new Map<string, [string, LedgerWant]>()
    for (const entry of ledger.wants) byHash.set(hashKey(entry[1].cid), entry)
    const again: WireWant[] = []
    for (const want of wanted) {
      const known = byHash.get(hashKey(CID.decode(want.cid)))
      // "sending": on its way now (or just taken in); absent: swept as expired together with this want
      if (known?.[1].status === 'want' || known?.[1].status === 'sending') continue
      if (known !== undefined) ledger.wants.delete(known[0])
      again.push(want)
    }
    if (again.length === 0) return
    ledger.addWants({ full: false, entries: again })
    ledger.queueSendOperation()
  })
}
