import { mkdir, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { rootFile, savedRoot } from '../../src/actors/files/root-file.ts'
import { saveVersioned } from '../../src/p2p/json-file.ts'
import { useTempDir } from '../support/temp-dir.ts'

const ROOT = CID.parse('bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi')

describe('the saved directory root of a persistent node', () => {
  const dir = useTempDir('sb-root-file-')

  it('loads back the root it saved; none saved is undefined', async () => {
    const storage = join(dir(), 'a')
    await mkdir(storage)
    const file = savedRoot(rootFile(storage))
    expect(await file.load(() => {})).toBeUndefined()
    await file.save(ROOT)
    expect((await file.load(() => {}))?.toString()).toBe(ROOT.toString())
  })

  it('a root that is not a CID is corrupt: moved aside and reported naming the file', async () => {
    const path = join(dir(), 'files-root.json')
    await saveVersioned(path, 'switchboard.files-root', 1, { root: 'not-a-cid' })
    const reports: string[] = []
    expect(await savedRoot(path).load((m) => reports.push(m))).toBeUndefined()
    expect(reports.length).toBe(1)
    expect(reports[0]).toMatch(
      /^the directory root file is corrupt: .*files-root\.json.*; moved it aside to .* and using the last counted root$/,
    )
    expect((await readdir(dir())).filter((f) => f.startsWith('files-root.json.corrupt-')).length).toBe(1)
  })

  it('a root of the wrong type names the field', async () => {
    const path = join(dir(), 'typed.json')
    await saveVersioned(path, 'switchboard.files-root', 1, { root: 42 })
    const reports: string[] = []
    await savedRoot(path).load((m) => reports.push(m))
    expect(reports[0]).toMatch(/data\/root/)
  })
})
