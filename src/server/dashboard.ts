/**
 * A small live view of the actor tree, served at / to a browser holding the token cookie.
 * It speaks the same WebSocket protocol as every other client.
 */
export function dashboardPage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Switchboard</title>
<style>
body{font:14px system-ui,sans-serif;margin:2rem;color:#222}
h1{font-size:1.3rem} table{border-collapse:collapse;min-width:40rem}
td,th{border-bottom:1px solid #ddd;padding:.3rem .6rem;text-align:left;vertical-align:top}
code{font-size:12px} .state{font-weight:600}
</style></head><body>
<h1>Switchboard</h1>
<p id="info">connecting…</p>
<table><thead><tr><th>actor</th><th>state</th><th>seq</th><th>context</th></tr></thead><tbody id="actors"></tbody></table>
<script type="module">
const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws')
const actors = new Map()
let id = 0
const call = (method, params = {}) => ws.send(JSON.stringify({ requestid: ++id, method, params }))
const esc = (v) => String(v).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c])
function render() {
  // every value comes from actors whose ids carry client-chosen names (topics): escape all of it
  const rows = [...actors.values()].sort((a, b) => a.systemId.localeCompare(b.systemId)).map((a) =>
    '<tr><td><code>' + esc(a.systemId) + '</code></td><td class="state">' + esc(JSON.stringify(a.value)) + '</td><td>' + esc(a.seq) +
    '</td><td><code>' + esc(JSON.stringify(a.context).slice(0, 300)) + '</code></td></tr>')
  document.getElementById('actors').innerHTML = rows.join('')
}
ws.onopen = () => { call('node.info'); call('actors.subscribe') }
ws.onmessage = (m) => {
  const f = JSON.parse(m.data)
  if (f.isresponse && f.result && f.result.peerid) {
    document.getElementById('info').textContent = f.result.alias + ' ' + f.result.peerid + ' · v' + f.result.version
  } else if (f.isresponse && f.result && f.result.actors) {
    for (const a of f.result.actors) actors.set(a.systemId, a); render()
  } else if (f.method === 'actor.snapshot') { actors.set(f.params.systemId, f.params); render() }
  else if (f.method === 'actor.stopped') { actors.delete(f.params.systemId); render() }
}
ws.onclose = () => { document.getElementById('info').textContent = 'disconnected' }
</script>
</body></html>
`
}
