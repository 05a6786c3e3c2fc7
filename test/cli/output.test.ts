import { afterEach, describe, expect, it, vi } from 'vitest'
import { ago, bytes, Progress, table } from '../../src/cli/output.ts'

describe('CLI output helpers', () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it('table pads every column but the last to its widest cell', () => {
    expect(
      table(
        ['A', 'LONG NAME', 'X'],
        [
          ['abc', 'b', 'tail'],
          ['d', 'eeeeeeeeeee', ''],
        ],
      ),
    ).toBe(['A    LONG NAME    X', 'abc  b            tail', 'd    eeeeeeeeeee'].join('\n'))
  })

  it('bytes and ago read as people write them', () => {
    expect(bytes(512)).toBe('512 B')
    expect(bytes(4 * 1024 * 1024 + 123)).toBe('4.0 MiB')
    expect(bytes(20_000_000)).toBe('19 MiB')
    expect(ago(null)).toBe('-')
    expect(ago(1_000, 6_000)).toBe('5s ago')
    expect(ago(0 + 1, 1 + 3 * 3600_000)).toBe('3h ago')
  })

  it('the progress bar redraws one line on a terminal and ends it', () => {
    const writes: string[] = []
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk))
      return true
    })
    const p = new Progress('add f', 1000, true)
    p.add(500)
    p.finish()
    expect(p.done).toBe(500)
    const line = writes[0] as string
    expect(line.startsWith('\radd f [###############---------------]  50% 500 B/1000 B ')).toBe(true)
    expect(line.endsWith('/s\x1b[K')).toBe(true)
    expect(writes.at(-1)).toBe('\n')
  })

  it('draws nothing when stderr is not a terminal', () => {
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    const p = new Progress('get f', undefined, false)
    p.add(10)
    p.finish()
    expect(write).not.toHaveBeenCalled()
  })
})
