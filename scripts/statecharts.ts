import { mkdir, readdir, readFile, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { machineKinds } from '../src/machines/catalog.ts'
import { statechartFiles } from './statechart-doc.ts'
import { writeFileAtomic } from '../src/p2p/atomic-file.ts'

/** Where the generated statecharts live, relative to the repository root. */
export const STATECHARTS_DIR = resolve(fileURLToPath(new URL('..', import.meta.url)), 'docs/statecharts')

export interface StaleReport {
  /** Generated files that are missing or differ on disk. */
  changed: string[]
  /** Files on disk the generator no longer produces (a kind that was removed). */
  extra: string[]
}

async function filesOnDisk(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((name) => name.endsWith('.md') || name.endsWith('.json'))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}

/** Compare what the generator produces now with the files in `dir`. */
export async function findStale(dir: string, files: Map<string, string>): Promise<StaleReport> {
  const changed: string[] = []
  for (const [name, content] of files) {
    const onDisk = await readFile(join(dir, name), 'utf8').catch(() => undefined)
    if (onDisk !== content) changed.push(name)
  }
  const extra = (await filesOnDisk(dir)).filter((name) => !files.has(name)).sort()
  return { changed, extra }
}

async function main(argv: string[]): Promise<number> {
  const files = statechartFiles(machineKinds)
  const stale = await findStale(STATECHARTS_DIR, files)
  const count = stale.changed.length + stale.extra.length
  if (argv.includes('--check')) {
    if (count === 0) {
      console.log(`docs/statecharts is up to date (${files.size} files)`)
      return 0
    }
    for (const name of stale.changed) console.error(`stale: docs/statecharts/${name}`)
    for (const name of stale.extra) console.error(`not generated any more: docs/statecharts/${name}`)
    console.error('run `npm run statecharts` to regenerate them')
    return 1
  }
  await mkdir(STATECHARTS_DIR, { recursive: true })
  for (const name of stale.changed) await writeFileAtomic(join(STATECHARTS_DIR, name), files.get(name) ?? '', 0o644)
  for (const name of stale.extra) await rm(join(STATECHARTS_DIR, name))
  console.log(`docs/statecharts: ${stale.changed.length} written, ${stale.extra.length} removed, ${files.size} in all`)
  return 0
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code
    },
    (err) => {
      console.error(err)
      process.exitCode = 1
    },
  )
}
