/**
 * The address book on disk: a json-file envelope (`switchboard.addressbook`, version 1) holding
 * `{savedAt, entries}`, and the writer that serialises and coalesces saves of it.
 */
import { type Static, Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { CoalescedWrite } from '../coalesced-write.ts'
import { jsonFile } from '../json-file.ts'
import { type Entry, type EntryRecord, EntryRecordSchema, toRecord } from './entry.ts'
import { keepValueOf } from './scoring.ts'
import { Serial } from '../serial.ts'

export const ADDRESS_BOOK_FORMAT = 'switchboard.addressbook'
export const ADDRESS_BOOK_VERSION = 1

/** The file's data: entries stay unchecked here so that one bad entry costs only itself (see restorableRecords). */
const BookFileSchema = Type.Object({ savedAt: Type.Optional(Type.Number()), entries: Type.Array(Type.Unknown()) })
type BookFile = Static<typeof BookFileSchema>

export const addressBookFile = (path: string) =>
  jsonFile({ path, format: ADDRESS_BOOK_FORMAT, version: ADDRESS_BOOK_VERSION, schema: BookFileSchema })

/** The saved entries that have the record shape; the best first when there are more than `capacity`. */
export function restorableRecords(raw: readonly unknown[], capacity: number, now: number): EntryRecord[] {
  const valid: EntryRecord[] = []
  for (const r of raw) if (Value.Check(EntryRecordSchema, r)) valid.push(r)
  if (valid.length > capacity) valid.sort((a, b) => keepValueOf(b, now) - keepValueOf(a, now))
  return valid
}

/** Writes of one book: to its own path coalesced (and, with saveOnChange, after every change), elsewhere on demand. */
export class BookWriter {
  /** Saves are serialised so that an older snapshot never lands after a newer one. */
  private readonly saving = new Serial()
  /** Coalesced saves to `path`; changes schedule one only while onSaveError is set (saveOnChange). */
  private readonly writes: CoalescedWrite | undefined
  private onSaveError: ((err: Error) => void) | undefined

  constructor(
    private readonly path: string | undefined,
    private readonly entries: () => Iterable<Entry>,
    private readonly now: () => number,
    delayMs: number,
  ) {
    this.writes =
      path === undefined ? undefined : new CoalescedWrite(() => this.writeTo(path), { what: `the address book (${path})`, delayMs })
  }

  saveOnChange(onError: (err: Error) => void): () => void {
    this.onSaveError = onError
    return () => {
      if (this.onSaveError === onError) this.onSaveError = undefined
    }
  }

  changed(): void {
    const onError = this.onSaveError
    if (onError !== undefined) this.writes?.changed().catch(onError)
  }

  save(path: string | undefined = this.path): Promise<void> {
    if (path === undefined) return Promise.reject(new Error('AddressBook.save: no path given'))
    if (path === this.path && this.writes !== undefined) {
      void this.writes.changed()
      return this.writes.durable({ now: true })
    }
    return this.writeTo(path)
  }

  private writeTo(path: string): Promise<void> {
    const data: BookFile = { savedAt: this.now(), entries: [...this.entries()].map(toRecord) }
    return this.saving.run(() => addressBookFile(path).save(data))
  }
}
