/**
 * The address book on disk. Version 2 (written): the compact binary form of binary.ts. Version 1
 * (read only, to migrate): a json-file envelope (`switchboard.addressbook`) holding
 * `{savedAt, entries}`. Also the writer that serialises and coalesces saves.
 */
import { readFile } from 'node:fs/promises'
import { type Static, Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { CorruptFileError, writeFileAtomic } from '../atomic-file.ts'
import { CoalescedWrite } from '../coalesced-write.ts'
import { loadVersioned } from '../json-file.ts'
import { Serial } from '../serial.ts'
import { BINARY_VERSION, decodeBook, encodeBook, isBinaryBook } from './binary.ts'
import type { BookColumns } from './columns.ts'
import { type Entry, type EntryRecord, EntryRecordSchema, type WritableEntry } from './entry.ts'
import { keepValueOf } from './scoring.ts'

export const ADDRESS_BOOK_FORMAT = 'switchboard.addressbook'
/** The version save() writes (binary.ts); version 2 (binary, ids as text) and version 1, the JSON envelope, are still read. */
export const ADDRESS_BOOK_VERSION = BINARY_VERSION
export const ADDRESS_BOOK_JSON_VERSION = 1

/** Version 1's data: entries stay unchecked here so that one bad entry costs only itself (see restorableRecords). */
const BookFileSchema = Type.Object({ savedAt: Type.Optional(Type.Number()), entries: Type.Array(Type.Unknown()) })
type BookFile = Static<typeof BookFileSchema>

/**
 * What a book file holds: the entries of a binary file as columns (checked when written; not yet in a
 * book, see decodeBook), or version 1's records, still to be validated.
 */
export type BookFileContent = { kind: 'binary'; columns: BookColumns } | { kind: 'json'; entries: unknown[] }

/**
 * Read a book file of either version. Undefined when it does not exist; CorruptFileError naming the
 * file and the problem when it cannot be trusted (format, version, truncation, checksum, shape).
 */
export async function readBookFile(path: string): Promise<BookFileContent | undefined> {
  let bytes: Buffer
  try {
    bytes = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  if (bytes.length === 0) throw new CorruptFileError(path, 'empty file')
  if (isBinaryBook(bytes)) return { kind: 'binary', columns: decodeBook(bytes, path, ADDRESS_BOOK_FORMAT).columns }
  // anything but the binary header must be version 1's JSON envelope
  const text = bytes.toString('utf8', 0, Math.min(bytes.length, 64)).trimStart()
  if (!text.startsWith('{')) {
    let why = 'not a JSON object'
    try {
      JSON.parse(bytes.toString('utf8'))
    } catch (err) {
      why = (err as Error).message
    }
    throw new CorruptFileError(path, `neither a binary address book nor valid JSON (${why})`)
  }
  const data = await loadVersioned<BookFile>(path, ADDRESS_BOOK_FORMAT, ADDRESS_BOOK_JSON_VERSION)
  if (data === undefined) return undefined // removed between the two reads
  if (!Value.Check(BookFileSchema, data)) {
    const first = Value.Errors(BookFileSchema, data).First()
    throw new CorruptFileError(path, `data${first?.path ?? ''}: ${first?.message ?? 'does not match its schema'}`)
  }
  return { kind: 'json', entries: data.entries }
}

/** The saved version 1 entries that have the record shape. */
export function validRecords(raw: readonly unknown[]): EntryRecord[] {
  const valid: EntryRecord[] = []
  for (const r of raw) if (Value.Check(EntryRecordSchema, r)) valid.push(r)
  return valid
}

/** The best first when there are more than `capacity`; else as they are. */
export function restorable(entries: Entry[], capacity: number, now: number): Entry[] {
  if (entries.length > capacity) entries.sort((a, b) => keepValueOf(b, now) - keepValueOf(a, now))
  return entries
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
    private readonly entries: () => Iterable<WritableEntry>,
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
    return this.saving.run(async () => {
      // the snapshot is taken (synchronously) when this write's turn comes
      const bytes = await encodeBook(this.entries(), this.now(), ADDRESS_BOOK_FORMAT)
      await writeFileAtomic(path, bytes)
    })
  }
}
