/**
 * A daemon's start as far as its address book goes: a fresh process (cold code, no memory touched
 * before) that loads a book file once and prints `loaded <json>` with the load's wall and CPU time and
 * what the loaded book holds in memory. Run by bench/address-book.ts:
 *
 *   node --import tsx bench/support/load-address-book.ts <path> <capacity>
 */
import { AddressBook } from '../../src/p2p/address-book.ts'

const [path, capacity] = process.argv.slice(2)
if (path === undefined || capacity === undefined) throw new Error('usage: load-address-book.ts <path> <capacity>')
const before = process.memoryUsage()
const cpu = process.cpuUsage()
const t = performance.now()
const book = await AddressBook.load(path, { capacity: Number(capacity), log: (m) => console.error(m) })
const ms = performance.now() - t
const used = process.cpuUsage(cpu)
const after = process.memoryUsage()
const bytes = after.heapUsed - before.heapUsed + (after.arrayBuffers - before.arrayBuffers)
console.log(`loaded ${JSON.stringify({ ms, cpuMs: (used.user + used.system) / 1000, size: book.size, bytesPerEntry: bytes / book.size })}`)
