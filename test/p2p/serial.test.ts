import { describe, expect, it } from 'vitest'
import { KeyedSerial, Serial } from '../../src/p2p/serial.ts'

/** A section that records when it starts and ends, and finishes when told. */
function section(log: string[], name: string, fail = false) {
  let finish!: () => void
  const done = new Promise<void>((resolve) => (finish = resolve))
  const fn = async () => {
    log.push(`start ${name}`)
    await done
    log.push(`end ${name}`)
    if (fail) throw new Error(`${name} failed`)
    return name
  }
  return { fn, finish }
}

describe('Serial', () => {
  it('runs sections one at a time in call order; a failing one does not stop the next', async () => {
    const serial = new Serial()
    const log: string[] = []
    const a = section(log, 'a', true)
    const b = section(log, 'b')
    const ra = serial.run(a.fn)
    const rb = serial.run(b.fn)
    await Promise.resolve()
    expect(log).toEqual(['start a'])
    b.finish()
    a.finish()
    await expect(ra).rejects.toThrow('a failed')
    await expect(rb).resolves.toBe('b')
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b'])
  })
})

describe('KeyedSerial', () => {
  it('serialises per key and lets different keys run side by side', async () => {
    const serial = new KeyedSerial<string>()
    const log: string[] = []
    const x1 = section(log, 'x1')
    const x2 = section(log, 'x2')
    const y1 = section(log, 'y1')
    const runs = [serial.run('x', x1.fn), serial.run('x', x2.fn), serial.run('y', y1.fn)]
    await new Promise((resolve) => setImmediate(resolve))
    expect(log).toEqual(['start x1', 'start y1'])
    for (const s of [x1, x2, y1]) s.finish()
    await expect(Promise.all(runs)).resolves.toEqual(['x1', 'x2', 'y1'])
    expect(log.indexOf('start x2')).toBeGreaterThan(log.indexOf('end x1'))
  })
})
