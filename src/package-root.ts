import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'

/**
 * The package's root: the nearest directory above `from` that holds package.json. The same from
 * src/ (tsx), dist/ (tsc) and dist/switchboard.cjs (the bundle, whose modules all share its location).
 */
export function packageRootOf(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`)
  }
}

export const PACKAGE_ROOT = packageRootOf(import.meta.dirname)
