import { describe, expect, it } from 'vitest'
import { activePath, graphOf, layout } from '../../src/dashboard/statechart.ts'
import { machineKinds } from '../../src/machines/catalog.ts'
import { machineDefinition } from '../../src/machines/definition.ts'

/** The dashboard's statechart layout, on every machine `machines.list` serves. */
describe('statechart layout', () => {
  const definitions = machineKinds.map((k) => ({ kind: k.kind, definition: JSON.parse(JSON.stringify(machineDefinition(k.machine))) }))

  it('every machine: each top-level state a box, inside the drawing, none overlapping; every edge between two of them', () => {
    for (const { kind, definition } of definitions) {
      const l = layout(definition)
      expect(l.nodes.map((n) => n.name).sort(), kind).toEqual(Object.keys(definition.states ?? {}).sort())
      for (const n of l.nodes) {
        expect(n.x + n.w, kind).toBeLessThanOrEqual(l.width)
        expect(n.y + n.h, kind).toBeLessThanOrEqual(l.height)
        for (const m of l.nodes)
          if (m !== n)
            expect(n.x + n.w <= m.x || m.x + m.w <= n.x || n.y + n.h <= m.y || m.y + m.h <= n.y, `${kind}: ${n.name}/${m.name}`).toBe(true)
      }
      for (const e of l.edges) expect(e.from === e.to, kind).toBe(false)
    }
  })

  it('the peer machine: the initial state on top, the transitions the peer actor takes drawn with their events', () => {
    const peer = definitions.find((d) => d.kind === 'peer')?.definition
    const g = graphOf(peer)
    expect(g.initial).toBe('disconnected')
    const edge = (from: string, to: string) => g.edges.find((e) => e.from === from && e.to === to)
    expect(edge('disconnected', 'connecting')?.events.length).toBeGreaterThan(0)
    expect(edge('connecting', 'connected')).toBeDefined()
    const l = layout(peer)
    const top = Math.min(...l.nodes.map((n) => n.y))
    expect(l.nodes.find((n) => n.name === 'disconnected')?.y).toBe(top)
    expect(l.nodes.find((n) => n.name === 'connected')?.children).toEqual(expect.arrayContaining(['idle', 'syncing']))
  })

  it('the active path of a state value', () => {
    expect(activePath('ready')).toEqual(['ready'])
    expect(activePath({ connected: 'idle' })).toEqual(['connected', 'idle'])
    expect(activePath({ on: { relaying: 'busy' } })).toEqual(['on', 'relaying', 'busy'])
    expect(activePath(null)).toEqual([])
  })
})
