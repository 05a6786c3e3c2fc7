import { SwitchboardClient } from '../client/client.ts'

const client = new SwitchboardClient()
const info = document.getElementById('info') as HTMLElement
const root = document.getElementById('root') as HTMLElement
const table = document.createElement('ul')
table.id = 'actors'
root.append(table)
const actors = new Map<string, { systemId: string; value: unknown }>()
const render = () => {
  table.replaceChildren(
    ...[...actors.values()].map((a) => {
      const li = document.createElement('li')
      li.textContent = `${a.systemId} ${JSON.stringify(a.value)}`
      return li
    }),
  )
}
client.on('actor.snapshot', (s) => {
  actors.set(s.systemId, s)
  render()
})
void (async () => {
  const i = await client.call('node.info')
  info.textContent = `${i.alias} ${i.peerid}`
  const sub = await client.call('actors.subscribe', {})
  for (const a of sub.actors) actors.set(a.systemId, a)
  render()
})()
