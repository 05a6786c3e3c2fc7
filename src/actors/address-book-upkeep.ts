import { multiaddr } from '@multiformats/multiaddr'
import type { AddressBook } from '../p2p/address-book.ts'
import { dialSignal } from '../p2p/dial-signal.ts'
import type { NodeRuntimes } from './node/node-runtimes.ts'

/**
 * The address book's upkeep: every change saved within its save delay (so a kill loses at most
 * about that much), and periodically its test-before-evict questions answered by dialling the
 * once-good entries it asks about. Returns the function that stops it.
 */
export function startAddressBookUpkeep(
  book: AddressBook,
  runtimes: NodeRuntimes,
  intervalMs: number,
  log: (msg: string) => void,
): () => void {
  const stopSaving = book.saveOnChange((err) => log(err.message))
  let running = false
  const tick = async () => {
    if (running) return
    running = true
    try {
      const libp2p = runtimes.all().find((r) => r.handle)?.handle?.libp2p
      for (const test of libp2p ? book.pendingTests() : []) {
        const target = test.peerId && !test.multiaddr.includes('/p2p/') ? `${test.multiaddr}/p2p/${test.peerId}` : test.multiaddr
        const dial = dialSignal(AbortSignal.timeout(intervalMs), runtimes.shared.dialTimeoutMs)
        try {
          await libp2p?.dial(multiaddr(target), { signal: dial.signal })
          book.markSuccess(test.multiaddr, test.peerId)
        } catch {
          book.markFailure(test.multiaddr, test.peerId)
        } finally {
          dial.release()
        }
      }
    } catch (err) {
      log(`address book upkeep: ${(err as Error).message}`)
    } finally {
      running = false
    }
  }
  const timer = setInterval(() => void tick(), intervalMs)
  timer.unref()
  return () => {
    clearInterval(timer)
    stopSaving()
  }
}
