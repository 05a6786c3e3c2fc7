import { fileURLToPath } from 'node:url'
import { cruise, type ICruiseResult, type IViolation } from 'dependency-cruiser'
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options'
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config'
import { describe, expect, it } from 'vitest'

/**
 * The layer rules of .dependency-cruiser.cjs (run by `npm run lint`): they pass on src with no
 * exception, and each one fails on the small tree under test/fixtures/layers.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const FIXTURE = fileURLToPath(new URL('../fixtures/layers', import.meta.url))

async function cruiseSrc(baseDir: string): Promise<ICruiseResult> {
  const options = await extractDepcruiseOptions(`${ROOT}.dependency-cruiser.cjs`)
  const tsConfig = extractTSConfig(`${ROOT}tsconfig.json`)
  const { output } = await cruise(['src'], { ...options, baseDir }, {}, { tsConfig })
  return output as ICruiseResult
}

/** `rule: from → to`, or the circle's modules for a cycle, so a failure reads like the lint output. */
const describeViolation = (v: IViolation): string =>
  `${v.rule.name}: ${v.from} → ${v.cycle ? v.cycle.map((c) => c.name).join(' → ') : v.to}`

describe('layer rules', () => {
  it('hold on src, with no known violations', async () => {
    const { summary } = await cruiseSrc(ROOT)
    const errors = summary.violations.filter((v) => v.rule.severity === 'error').map(describeViolation)
    expect(errors).toEqual([])
    expect(summary.totalCruised).toBeGreaterThan(100)
  })

  it('fail on a circle, the server importing libp2p, a machine importing node:fs and p2p importing actors', async () => {
    const { summary } = await cruiseSrc(FIXTURE)
    const errors = summary.violations.filter((v) => v.rule.severity === 'error').map(describeViolation)
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^no-circular: src\/server\/(request|reply)\.ts → /),
        expect.stringMatching(/^server-no-libp2p-or-helia: src\/server\/dials-libp2p\.ts → .*node_modules\/libp2p\//),
        'machines-only-xstate: src/machines/reads-disk.ts → fs/promises',
        'p2p-not-actors-or-server: src/p2p/knows-actors.ts → src/actors/upkeep.ts',
      ]),
    )
    expect(summary.error).toBe(errors.length)
  })
})
