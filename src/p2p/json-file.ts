/**
 * The one way a store keeps JSON on disk: an envelope `{format, version, sha256, data}` written
 * atomically, and on load the envelope checked and `data` validated against the store's TypeBox
 * schema, so a store never handles a value of a shape it did not declare. The envelope's bytes are
 * what every data directory already holds; changing them would orphan existing files.
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type { Static, TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { CorruptFileError, quarantine, type StagedFile, stageFileAtomic, writeFileAtomic } from './atomic-file.ts'

interface Envelope {
  format: unknown
  version: unknown
  sha256: unknown
  data: unknown
}

const digest = (json: string) => createHash('sha256').update(json).digest('hex')

/** `data` wrapped with a format name, a version and a checksum of its JSON: a file's bytes. */
function envelope(format: string, version: number, data: unknown): string {
  const json = JSON.stringify(data)
  return `{"format":${JSON.stringify(format)},"version":${version},"sha256":"${digest(json)}","data":${json}}\n`
}

/** Save `data` wrapped with a format name, a version and a checksum of its JSON. */
export async function saveVersioned(path: string, format: string, version: number, data: unknown): Promise<void> {
  await writeFileAtomic(path, envelope(format, version, data))
}

/**
 * The `data` of a file written by saveVersioned, with its envelope checked but its data not
 * validated (`T` is the caller's word; a store uses jsonFile). Returns undefined when the file does
 * not exist; throws CorruptFileError naming the file and the problem otherwise.
 */
export async function loadVersioned<T = unknown>(path: string, format: string, version: number): Promise<T | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  let parsed: Envelope
  try {
    parsed = JSON.parse(text) as Envelope
  } catch (err) {
    throw new CorruptFileError(path, `not valid JSON (${(err as Error).message})`)
  }
  if (parsed === null || typeof parsed !== 'object') throw new CorruptFileError(path, 'not a JSON object')
  if (parsed.format !== format)
    throw new CorruptFileError(path, `format is ${JSON.stringify(parsed.format)}, expected ${JSON.stringify(format)}`)
  if (parsed.version !== version) throw new CorruptFileError(path, `version ${parsed.version} is not supported (expected ${version})`)
  if (parsed.sha256 !== digest(JSON.stringify(parsed.data))) throw new CorruptFileError(path, 'checksum mismatch')
  return parsed.data as T
}

export interface JsonFileSpec<S extends TSchema> {
  path: string
  /** Written into the envelope and required on load: a file of another store is refused. */
  format: string
  version: number
  /** The shape of `data`; a file whose data does not match it is corrupt. */
  schema: S
}

/** What loadOrQuarantine says when the file is corrupt: "<what> is corrupt: <why>; moved it aside to <file> and <instead>". */
export interface QuarantinePolicy<T, R> {
  what: string
  instead: string
  log: (msg: string) => void
  /**
   * Turns the validated data into what the store holds; a throw means the content is unusable
   * (a CID that does not parse, a key that does not fit its certificate) and counts as corruption.
   */
  use?: (data: T) => R
}

export interface JsonFile<T> {
  readonly path: string
  /** The validated data; undefined when the file does not exist; CorruptFileError naming the file and the first bad field otherwise. */
  load(): Promise<T | undefined>
  /**
   * The data, or undefined when the file is missing or corrupt: a corrupt file is moved aside (kept
   * for inspection) and logged once, naming both files, so the store starts empty. Other I/O errors throw.
   */
  loadOrQuarantine<R = T>(policy: QuarantinePolicy<T, R>): Promise<R | undefined>
  /** Write atomically: a kill leaves the old file or the new one. */
  save(data: T): Promise<void>
  /** save's first half: written and fsynced beside the file, in place once committed (stageFileAtomic). */
  stage(data: T): Promise<StagedFile>
}

/** A versioned, checksummed JSON file whose data has the shape of `schema`. */
export function jsonFile<S extends TSchema>(spec: JsonFileSpec<S>): JsonFile<Static<S>> {
  const { path, format, version, schema } = spec

  async function load(): Promise<Static<S> | undefined> {
    const data = await loadVersioned(path, format, version)
    if (data === undefined || Value.Check(schema, data)) return data as Static<S> | undefined
    const first = Value.Errors(schema, data).First()
    throw new CorruptFileError(path, `data${first?.path ?? ''}: ${first?.message ?? 'does not match its schema'}`)
  }

  async function loadOrQuarantine<R = Static<S>>(policy: QuarantinePolicy<Static<S>, R>): Promise<R | undefined> {
    try {
      const data = await load()
      if (data === undefined) return undefined
      if (policy.use === undefined) return data as R
      try {
        return policy.use(data)
      } catch (err) {
        throw err instanceof CorruptFileError ? err : new CorruptFileError(path, (err as Error).message)
      }
    } catch (err) {
      if (!(err instanceof CorruptFileError)) throw err
      try {
        const aside = await quarantine(path)
        policy.log(`${policy.what} is corrupt: ${err.message}; moved it aside to ${aside} and ${policy.instead}`)
      } catch (qerr) {
        policy.log(`${policy.what} is corrupt: ${err.message}; could not move it aside (${(qerr as Error).message}); ${policy.instead}`)
      }
      return undefined
    }
  }

  return {
    path,
    load,
    loadOrQuarantine,
    save: (data) => saveVersioned(path, format, version, data),
    stage: (data) => stageFileAtomic(path, envelope(format, version, data)),
  }
}
