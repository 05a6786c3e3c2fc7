/** The address book's public surface; the implementation is split across address-book/ (see book.ts). */
export { AddressBook, DEFAULT_CAPACITY, DEFAULT_MAX_PER_GROUP } from './address-book/book.ts'
export type { AddResult, AddressBookOptions, BestOptions } from './address-book/book.ts'
export { ADDRESS_SOURCES } from './address-book/entry.ts'
export type { AddressBookWireEntry, AddressEntry, AddressSource } from './address-book/entry.ts'
export type { PendingTest } from './address-book/pending-tests.ts'
export { ADDRESS_BOOK_FORMAT, ADDRESS_BOOK_VERSION } from './address-book/persistence.ts'
export { chanceOf, isTerrible, keepValueOf, qualityOf } from './address-book/scoring.ts'
export type { AddReason } from './address-book/validation.ts'
