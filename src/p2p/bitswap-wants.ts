/**
 * Mends to Helia's bitswap (4.0.19) so that a block wanted again comes again. Without them a
 * peer that wants a block it fetched before (dropped by a cache eviction or an aborted sync, or
 * wanted by a second read at once) stalls until its deadline (the gateway's 504, GET /ipfs's idle
 * deadline):
 *
 * - Serving side: the ledger keeps a want it served as "sent" for 5 s, then drops it, and
 *   requesters never send cancels; a new want within 5 s is taken for the old one, and after that
 *   the expired entry is swept together with the new want. Go's bitswap forgets a want once it
 *   served it; here every want that arrives for a block already sent is a new request.
 * - Asking side: a received block's want stays in the wantlist, flagged, until the next send (10 ms
 *   debounce); a want made meanwhile joins it and is dropped with it, never sent. Here the want
 *   leaves the wantlist as its block arrives.
 *
 * - Asking side: a want sent and never answered is never sent again (the wantlist goes to a peer
 *   once); when the serving side's send of a batch of blocks fails (its 10 s message timeout under
 *   load, a reset stream), those blocks were marked sent and the fetch stalls until its deadline.
 *   Here a want still open REWANT_AFTER_MS after it was sent is sent again.
 *
 * - Asking side: a wantlist send marks its wants as sent to the peer only once the message is
 *   written; a block that arrives meanwhile (a fast peer answers before the write returns) leaves its
 *   key marked sent with no want behind it, so the next want of that block is never sent. The file
 *   windows of a large GET /ipfs each want the block at their shared edge, so a 100 MiB fetch stalled
 *   at a window boundary until its idle deadline (3 of 5 fetches between two daemons). Here a block
 *   that arrives during a send is unmarked once the send is done, and a want of it made meanwhile goes out.
 *
 * - Asking side: when a block is stored (Helia notifies bitswap after its put), the wantlist flags
 *   that block's want as cancelled, but nobody resolves the want: a read that asked for the block
 *   just before the put of the copy fetched for another read finished waits for it forever (its
 *   cancelled want is never sent). Here a stored block leaves the wants alone: a want made meanwhile
 *   is sent and answered like any other (the block comes twice).
 *
 * - Serving side: every wanted block is read (one after another) into one message before any is
 *   sent, so a want of 64 blocks waits for all 64 reads and 16 MiB of sending before its first
 *   block arrives, past the asker's idle deadline under load. Here a send takes BLOCKS_PER_MESSAGE
 *   wants at a time, so blocks flow while the next ones are read.
 *
 * Neither the ledger nor the wantlist is public API: their shapes are checked at start and, when
 * they do not match (another bitswap version), nothing is changed and `log` says so;
 * test/p2p/bitswap-rewant.test.ts fails then too.
 */
import type { PeerId } from '@libp2p/interface'
import { CID } from 'multiformats/cid'

interface LedgerWant {
  cid: CID
  /** 'later': held back from this message by sendInParts, 'want' again after it. */
  status: 'want' | 'sending' | 'sent' | 'later'
}

interface WireWant {
  cid: Uint8Array
  cancel?: boolean
}

interface Ledger {
  wants: Map<string, LedgerWant>
  sendBlocksToPeer?(options?: unknown): Promise<void>
  addWants(list: { full?: boolean; entries: WireWant[] }): void
  queueSendOperation(message?: undefined): void
}

interface WantList extends EventTarget {
  wants: Map<string, { cid: CID }>
  peers: { values(): Iterable<Set<string>> }
  addEntry(cid: CID, options: unknown): Promise<unknown>
  receivedBlock(cid: CID, options?: unknown): Promise<void>
  sendMessages(): Promise<void>
  sendMessagesDebounced(): Promise<void>
}

interface Bitswap {
  network: EventTarget
  peerWantLists: { ledgerMap: { get(peer: PeerId): Ledger | undefined } }
  wantList: WantList
}

/** Blocks per message the serving side sends (256 KiB blocks: Helia's 4 MiB message size). */
export const BLOCKS_PER_MESSAGE = 16

/**
 * A want open this long after it was sent is sent again (its block may have been lost on the way: the
 * serving side's send failed after it marked the block sent). Below GET /ipfs's 3 s idle deadline,
 * with the check's granularity (a quarter of it) and the send again; a block that was only slow
 * comes twice.
 */
export const REWANT_AFTER_MS = 1_500

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
    typeof b.wantList.peers?.values === 'function' &&
    typeof b.wantList.addEntry === 'function' &&
    typeof b.wantList.receivedBlock === 'function' &&
    typeof b.wantList.sendMessages === 'function' &&
    typeof b.wantList.sendMessagesDebounced === 'function'
  return ok ? (b as Bitswap) : undefined
}

/** Bitswap's own key of a multihash: unpadded base64 (uint8arrays' 'base64'). */
const bitswapKey = (cid: CID) => hashKey(cid).replace(/=+$/, '')

/**
 * The key of `cid`'s entry in a map keyed by bitswap's own encoding of the multihash: looked up
 * directly, and only when the map's keys turn out to be another encoding, found by a scan.
 */
function findKey(map: Map<string, { cid: CID }>, cid: CID): string | undefined {
  const key = bitswapKey(cid)
  if (map.has(key)) return key
  const first = map.entries().next().value
  if (first === undefined || bitswapKey(first[1].cid) === first[0]) return undefined
  const wanted = hashKey(cid)
  for (const [k, entry] of map) if (hashKey(entry.cid) === wanted) return k
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
    const ledger = bitswap.peerWantLists.ledgerMap.get(connection.remotePeer)
    if (ledger === undefined || !(ledger.wants instanceof Map)) return
    sendInParts(ledger)
    const wanted = message.wantlist?.entries.filter((e) => e.cancel !== true) ?? []
    if (wanted.length === 0) return
    const again: WireWant[] = []
    for (const want of wanted) {
      const cid = CID.decode(want.cid)
      const key = findKey(ledger.wants, cid)
      const known: [string, LedgerWant] | undefined = key === undefined ? undefined : [key, ledger.wants.get(key) as LedgerWant]
      // "sending": on its way now (or just taken in); absent: swept as expired together with this want
      if (known?.[1].status === 'want' || known?.[1].status === 'sending') continue
      if (known !== undefined) ledger.wants.delete(known[0])
      again.push(want)
    }
    if (again.length === 0) return
    ledger.addWants({ full: false, entries: again })
    ledger.queueSendOperation()
  })

  resendUnanswered(bitswap)
  unmarkArrivedDuringSend(bitswap.wantList)
  // asking side: a stored block cancels no want (see above); the blocks bitswap delivers resolve them
  bitswap.wantList.receivedBlock = async () => {}
}

/**
 * Blocks that arrive while a wantlist send is under way are unmarked as sent (to every peer) once the
 * send is done: it marks what it sent only after its write, after the block listener above cleaned up.
 * A want of such a block made meanwhile is then sent.
 */
function unmarkArrivedDuringSend(wantList: WantList): void {
  let sending = 0
  const arrived = new Set<string>()
  wantList.addEventListener('block', (evt) => {
    if (sending > 0) arrived.add(bitswapKey((evt as unknown as BlockEvent).detail.cid))
  })
  const sendMessages = wantList.sendMessages.bind(wantList)
  wantList.sendMessages = async () => {
    sending++
    try {
      await sendMessages()
    } finally {
      sending--
      if (sending === 0 && arrived.size > 0) {
        let wantedAgain = false
        for (const key of arrived) {
          for (const sent of wantList.peers.values()) sent.delete(key)
          if (wantList.wants.has(key)) wantedAgain = true
        }
        arrived.clear()
        if (wantedAgain) void wantList.sendMessagesDebounced().catch(() => {})
      }
    }
  }
}

/**
 * Send again every want still open REWANT_AFTER_MS after it was (last) sent: forgotten as sent to
 * every peer, so the next wantlist message carries it. A timer runs only while wants are open.
 */
function resendUnanswered(bitswap: Bitswap): void {
  const wantList = bitswap.wantList
  const since = new Map<string, number>()
  let timer: NodeJS.Timeout | undefined
  const arm = () => {
    if (timer !== undefined) return
    timer = setTimeout(check, REWANT_AFTER_MS / 4)
    timer.unref?.()
  }
  const check = () => {
    timer = undefined
    const now = Date.now()
    let resend = false
    for (const key of since.keys()) if (!wantList.wants.has(key)) since.delete(key)
    for (const key of wantList.wants.keys()) {
      const at = since.get(key)
      if (at === undefined) since.set(key, now)
      else if (now - at >= REWANT_AFTER_MS) {
        for (const sent of wantList.peers.values()) sent.delete(key)
        since.set(key, now)
        resend = true
      }
    }
    if (resend) void wantList.sendMessagesDebounced().catch(() => {})
    if (wantList.wants.size > 0) arm()
    else since.clear()
  }
  const addEntry = wantList.addEntry.bind(wantList)
  wantList.addEntry = (cid, options) => {
    arm()
    return addEntry(cid, options)
  }
}

const parted = new WeakSet<Ledger>()

/**
 * Make the ledger's send operation go BLOCKS_PER_MESSAGE wants at a time: the wants beyond them are
 * marked 'later' (which its send skips) and given back as 'want' once that message is sent, then the
 * next part goes, until every want present at the start was tried once (one it has no block for stays
 * 'want', as before, and is not tried again in this operation).
 */
function sendInParts(ledger: Ledger): void {
  const send = ledger.sendBlocksToPeer
  if (parted.has(ledger) || typeof send !== 'function') return
  parted.add(ledger)
  ledger.sendBlocksToPeer = async function (this: Ledger, options?: unknown): Promise<void> {
    const tried = new Set<LedgerWant>()
    while (true) {
      const waiting = [...ledger.wants.values()].filter((w) => w.status === 'want' && !tried.has(w))
      if (waiting.length === 0) return
      const part = waiting.slice(0, BLOCKS_PER_MESSAGE)
      const later = waiting.slice(BLOCKS_PER_MESSAGE)
      const triedBefore = [...ledger.wants.values()].filter((w) => w.status === 'want' && tried.has(w))
      for (const w of part) tried.add(w)
      // held back: this part's send skips them (and the ones tried already, which it would retry)
      for (const w of [...later, ...triedBefore]) w.status = 'later'
      try {
        await send.call(ledger, options)
      } finally {
        for (const w of [...later, ...triedBefore]) if (w.status === 'later') w.status = 'want'
      }
      if (later.length === 0) return
    }
  }
}
