import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Type } from '@sinclair/typebox'
import { describe, expect, it } from 'vitest'
import { CorruptFileError } from '../../src/p2p/atomic-file.ts'
import { jsonFile } from '../../src/p2p/json-file.ts'
import { useTempDir } from '../support/temp-dir.ts'

const schema = Type.Object({ items: Type.Array(Type.Object({ name: Type.String(), size: Type.Integer({ minimum: 0 }) })) })
const spec = (path: string) => ({ path, format: 'test.things', version: 2, schema })

describe('jsonFile: a versioned, checksummed JSON file with a schema', () => {
  const dir = useTempDir('sb-json-file-')
  let n = 0
  const fresh = () => join(dir(), `things-${n++}.json`)

  it('saves and loads back what it saved, in the envelope existing data directories hold', async () => {
    const path = fresh()
    const file = jsonFile(spec(path))
    await file.save({ items: [{ name: 'a', size: 1 }] })
    expect(await file.load()).toEqual({ items: [{ name: 'a', size: 1 }] })
    // the exact bytes: format, version, sha256 of the data's JSON, data
    const text = await readFile(path, 'utf8')
    expect(text).toMatch(
      /^\{"format":"test\.things","version":2,"sha256":"[0-9a-f]{64}","data":\{"items":\[\{"name":"a","size":1\}\]\}\}\n$/,
    )
  })

  it('stage writes beside the file and replaces it only on commit; discard leaves the old file and no temp file', async () => {
    const path = fresh()
    const file = jsonFile(spec(path))
    await file.save({ items: [{ name: 'old', size: 1 }] })
    const name = path.split('/').at(-1) as string
    const staged = await file.stage({ items: [{ name: 'new', size: 2 }] })
    expect(await file.load()).toEqual({ items: [{ name: 'old', size: 1 }] })
    expect((await readdir(dir())).filter((f) => f.startsWith(`.${name}.`)).length).toBe(1)
    await staged.commit()
    expect(await file.load()).toEqual({ items: [{ name: 'new', size: 2 }] })
    const dropped = await file.stage({ items: [{ name: 'dropped', size: 3 }] })
    await dropped.discard()
    expect(await file.load()).toEqual({ items: [{ name: 'new', size: 2 }] })
    expect((await readdir(dir())).filter((f) => f.startsWith(`.${name}.`))).toEqual([])
  })

  it('a missing file loads as undefined, and loadOrQuarantine neither logs nor moves anything', async () => {
    const path = fresh()
    const logs: string[] = []
    expect(await jsonFile(spec(path)).load()).toBeUndefined()
    expect(
      await jsonFile(spec(path)).loadOrQuarantine({ what: 'things', instead: 'starting empty', log: (m) => logs.push(m) }),
    ).toBeUndefined()
    expect(logs).toEqual([])
  })

  it('a schema violation is a CorruptFileError naming the file and the field', async () => {
    const path = fresh()
    // written with a looser schema, as an older or hand-edited file would be
    await jsonFile({ ...spec(path), schema: Type.Unknown() }).save({
      items: [
        { name: 'a', size: 1 },
        { name: 'b', size: -1 },
      ],
    })
    const err = await jsonFile(spec(path))
      .load()
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(CorruptFileError)
    expect((err as CorruptFileError).path).toBe(path)
    expect((err as Error).message).toContain(path)
    expect((err as Error).message).toMatch(/data\/items\/1\/size/)
  })

  it('a checksum mismatch is a CorruptFileError', async () => {
    const path = fresh()
    await jsonFile(spec(path)).save({ items: [{ name: 'a', size: 1 }] })
    await writeFile(path, (await readFile(path, 'utf8')).replace('"size":1', '"size":2'))
    await expect(jsonFile(spec(path)).load()).rejects.toThrow(/checksum mismatch/)
  })

  it('another version or format is a CorruptFileError saying which was found', async () => {
    const path = fresh()
    await jsonFile({ ...spec(path), version: 1 }).save({ items: [] })
    await expect(jsonFile(spec(path)).load()).rejects.toThrow(/version 1 is not supported \(expected 2\)/)
    await expect(jsonFile({ ...spec(path), format: 'test.other', version: 1 }).load()).rejects.toThrow(
      /format is "test\.things", expected "test\.other"/,
    )
  })

  it('loadOrQuarantine moves a corrupt file aside with one warning naming both files, and the store starts empty', async () => {
    const path = fresh()
    await writeFile(path, 'not json{')
    const logs: string[] = []
    const data = await jsonFile(spec(path)).loadOrQuarantine({ what: 'things', instead: 'starting empty', log: (m) => logs.push(m) })
    expect(data).toBeUndefined()
    const aside = (await readdir(dir())).filter((f) => f.startsWith(`${path.split('/').at(-1)}.corrupt-`))
    expect(aside.length).toBe(1)
    expect(logs.length).toBe(1)
    expect(logs[0]).toMatch(/^things is corrupt: .*not valid JSON.*; moved it aside to .* and starting empty$/)
    expect(logs[0]).toContain(path)
    expect(logs[0]).toContain(aside[0])
    expect(await readFile(join(dir(), aside[0] as string), 'utf8')).toBe('not json{')
  })

  it('loadOrQuarantine: a `use` that throws makes the file corrupt; what it returns is the result', async () => {
    const path = fresh()
    const file = jsonFile(spec(path))
    await file.save({ items: [{ name: 'a', size: 3 }] })
    const log = () => {}
    expect(await file.loadOrQuarantine({ what: 'things', instead: 'starting empty', log, use: (d) => d.items.length })).toBe(1)
    const logs: string[] = []
    const refused = await file.loadOrQuarantine({
      what: 'things',
      instead: 'starting empty',
      log: (m) => logs.push(m),
      use: () => {
        throw new Error('size 3 is not allowed')
      },
    })
    expect(refused).toBeUndefined()
    expect(logs[0]).toMatch(/things is corrupt: .*size 3 is not allowed; moved it aside/)
    expect(await file.load()).toBeUndefined()
  })
})
