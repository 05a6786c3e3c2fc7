import { describe, expect, it } from 'vitest'
import { frameShape } from '../../src/server/frame-shape.ts'

const NO_LIMITS = { maxDepth: Number.MAX_SAFE_INTEGER, maxElements: Number.MAX_SAFE_INTEGER, maxKeys: Number.MAX_SAFE_INTEGER }

describe('frameShape', () => {
  // the session skips the pass for a frame no longer than the smallest limit: that rests on this
  it('never counts more levels, elements or members than the frame has bytes', () => {
    const frames = ['[[[[[[[[]]]]]]]]', '[,,,,,,,,,,,,,,]', '{"":{"":{"":{}}}}', '{"a":1,"b":[2,3],"c":{"d":[]}}', ':::::', '[{},{},[],[]]']
    for (const text of frames) {
      const shape = frameShape(Buffer.from(text), NO_LIMITS)
      if (!shape.ok) throw new Error(`no limit set, yet refused ${text}`)
      expect(shape.depth).toBeLessThanOrEqual(text.length)
      expect(shape.elements).toBeLessThanOrEqual(text.length)
      expect(shape.keys).toBeLessThanOrEqual(text.length)
    }
  })

  it('refuses a frame one level deeper than the limit', () => {
    expect(frameShape(Buffer.from('[[[[[]]]]]'), { ...NO_LIMITS, maxDepth: 4 })).toEqual({ ok: false, limit: 'depth' })
  })
})
