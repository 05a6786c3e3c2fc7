/**
 * The dashboard: Preact + htm (no build-time JSX, ~5 KB), over the typed client library on the
 * page's own /ws (the token cookie of the start-up URL). Bound to peer-a, so it gets `peer.state`,
 * `pairing.state`, `activity` without asking. One column; views chosen from the nav.
 */
import { html, render } from 'htm/preact'
import { useEffect, useState } from 'preact/hooks'
import { SwitchboardClient } from '../client/client.ts'
import type { MethodResult, PushParams } from '../protocol/index.ts'
import { activePath, layout } from './statechart.ts'
import './dashboard.css'

type PeerState = PushParams<'peer.state'>
type Snapshot = MethodResult<'actors.list'>['actors'][number]
type Machine = MethodResult<'machines.list'>['machines'][number]
type Info = MethodResult<'node.info'>
type PairingPush = PushParams<'pairing.state'>
type Activity = PushParams<'activity'>
type FileEntries = PushParams<'peerFiles'>['entries']

const VIEWS = ['peers', 'add', 'join', 'actors', 'topics', 'files', 'activity'] as const
type View = (typeof VIEWS)[number]
const VIEW_NAMES: Record<View, string> = {
  peers: 'Peers',
  add: 'Add device',
  join: 'Join device',
  actors: 'Statecharts',
  topics: 'Topics',
  files: 'Files',
  activity: 'Activity',
}

const client = new SwitchboardClient()

/** Everything the views show; a change calls changed(), which re-renders. */
const store = {
  connection: client.state as string,
  info: undefined as Info | undefined,
  peers: new Map<string, PeerState>(),
  actors: new Map<string, Snapshot>(),
  machines: new Map<string, Machine>(),
  pairings: new Map<string, PairingPush>(),
  activity: [] as Activity[],
  topics: new Map<string, { messages: { peer: string; data: unknown; at: number }[]; members: Set<string> }>(),
  files: new Map<string, { cid: string; entries: FileEntries; source?: string }>(),
  error: '' as string,
}
const listeners = new Set<() => void>()
function changed(): void {
  for (const l of listeners) l()
}
function useStore(): typeof store {
  const [, setTick] = useState(0)
  useEffect(() => {
    const l = () => setTick((t) => t + 1)
    listeners.add(l)
    return () => void listeners.delete(l)
  }, [])
  return store
}

const short = (id: string) => (id.length > 16 ? `${id.slice(0, 8)}…${id.slice(-6)}` : id)
const when = (ms: number | null | undefined) => (ms ? new Date(ms).toLocaleString() : 'never')
const fail = (err: unknown) => {
  store.error = err instanceof Error ? err.message : String(err)
  changed()
}

client.on('state', (e) => {
  store.connection = e.state
  changed()
})
client.on('peer.state', (p) => {
  store.peers.set(p.peerId, p)
  changed()
})
client.on('pairing.state', (p) => {
  store.pairings.set(p.pairingId, p)
  if (p.peer) store.peers.set(p.peer.peerId, p.peer)
  changed()
})
client.on('activity', (a) => {
  store.activity.unshift(a)
  store.activity.length = Math.min(store.activity.length, 500)
  changed()
})
client.on('actor.snapshot', (s) => {
  store.actors.set(s.systemId, s)
  changed()
})
client.on('actor.stopped', (s) => {
  store.actors.delete(s.systemId)
  changed()
})
client.on('resync', (r) => {
  store.actors = new Map(r.actors.map((a) => [a.systemId, a]))
  changed()
})
client.on('topicData', (m) => {
  const t = store.topics.get(m.topic)
  if (!t) return
  t.messages.push({ peer: m.peerid, data: m.data, at: Date.now() })
  if (t.messages.length > 200) t.messages.shift()
  changed()
})
client.on('peerChange', (c) => {
  const t = store.topics.get(c.topic)
  if (!t) return
  if (c.joined) t.members.add(c.peerid)
  else t.members.delete(c.peerid)
  changed()
})
client.on('peerFiles', (f) => {
  store.files.set(f.peerid, { cid: f.cid, entries: f.entries, ...(f.source ? { source: f.source } : {}) })
  changed()
})

async function load(): Promise<void> {
  const [info, peers, machines, actors, activity] = await Promise.all([
    client.call('node.info'),
    client.call('peers.list'),
    client.call('machines.list'),
    client.call('actors.subscribe', {}),
    client.call('activity.list', {}),
  ])
  store.info = info
  store.peers = new Map(peers.peers.map((p) => [p.peerId, p]))
  store.machines = new Map(machines.machines.map((m) => [m.kind, m]))
  store.actors = new Map(actors.actors.map((a) => [a.systemId, a]))
  store.activity = [...activity.activity].reverse()
  changed()
}

// ---------------------------------------------------------------- views

function clearError(): void {
  store.error = ''
  changed()
}

function Header() {
  const s = useStore()
  return html`<header>
    <h1>Switchboard</h1>
    <p id="info">${s.info ? `${s.info.alias} ${s.info.peerid} · v${s.info.version}` : 'connecting…'}</p>
    <p class=${`conn conn-${s.connection}`} id="connection">${s.connection}</p>
    ${s.error && html`<p class="error" id="error" onClick=${clearError}>${s.error} ✕</p>`}
  </header>`
}

function Nav({ view, go }: { view: View; go: (v: View) => void }) {
  return html`<nav>${VIEWS.map(
    (v) => html`<button class=${v === view ? 'on' : ''} data-view=${v} onClick=${() => go(v)}>${VIEW_NAMES[v]}</button>`,
  )}</nav>`
}

function Peers({ openActor }: { openActor: (id: string) => void }) {
  const s = useStore()
  const peers = [...s.peers.values()].sort((a, b) => (a.name || a.peerId).localeCompare(b.name || b.peerId))
  const act = (p: Promise<unknown>) => p.catch(fail)
  return html`<section id="peers">
    <h2>Peers</h2>
    ${peers.length === 0 && html`<p class="muted">No peers yet. Pair a device with <b>Add device</b> on one and <b>Join device</b> on the other.</p>`}
    ${peers.map(
      (p) => html`<div class="card peer" data-peer=${p.peerId} data-status=${p.status}>
        <div class="row"><b class="name">${p.name || short(p.peerId)}</b><span class=${`badge st-${p.status}`}>${p.status}</span></div>
        <div class="muted mono">${p.peerId}</div>
        <div class="kv">
          <span>connection</span><span class="conntype">${p.connectionType}</span>
          <span>last sync</span><span>${when(p.lastSyncAt)}</span>
          <span>known</span><span>${p.known ? 'paired' : p.added ? 'added' : 'no'}</span>
          ${p.lastError && html`<span>last error</span><span class="error-text">${p.lastError}</span>`}
          ${p.sync && html`<span>syncing</span><span>${p.sync.blocksFetched}/${p.sync.blocksTotal} blocks</span>`}
        </div>
        <div class="actions">
          <button onClick=${() => act(client.call('peers.connect', { peerId: p.peerId }))}>Connect</button>
          <button onClick=${() => act(client.call('peers.disconnect', { peerId: p.peerId }))}>Disconnect</button>
          <button
            onClick=${() => {
              const name = prompt('Name for this peer', p.name)
              if (name !== null) act(client.call('peers.update', { peerId: p.peerId, name }))
            }}
          >
            Rename
          </button>
          <button
            onClick=${() => {
              if (confirm(`Forget ${p.name || p.peerId}? It will need pairing again.`))
                act(
                  client.call('peers.forget', { peerId: p.peerId }).then(() => {
                    s.peers.delete(p.peerId)
                    changed()
                  }),
                )
            }}
          >
            Forget
          </button>
          <button class="chart" onClick=${() => openActor(`peer:${s.info?.alias ?? 'peer-a'}:${p.peerId}`)}>Statechart</button>
        </div>
      </div>`,
    )}
  </section>`
}

/** How this device introduces itself when it pairs; kept in the browser, the host name when empty. */
function useDeviceName(): [string, (name: string) => void] {
  const [name, setName] = useState(() => localStorage.getItem('switchboard.deviceName') ?? '')
  const set = (value: string) => {
    setName(value)
    localStorage.setItem('switchboard.deviceName', value)
  }
  return [name, set]
}

function DeviceName({ id, name, setName }: { id: string; name: string; setName: (name: string) => void }) {
  return html`<label class="device-name">This device's name
    <input id=${id} maxlength="256" placeholder="the host name" value=${name} onInput=${(e: Event) => setName((e.target as HTMLInputElement).value)} />
  </label>`
}

function AddDevice() {
  const s = useStore()
  const [ticket, setTicket] = useState<MethodResult<'pairing.create'> | undefined>()
  const [copied, setCopied] = useState(false)
  const [name, setName] = useDeviceName()
  const pairing = ticket ? s.pairings.get(ticket.pairingId) : undefined
  const create = () =>
    client
      .call('pairing.create', name.trim() === '' ? {} : { name: name.trim() })
      .then((t) => {
        setTicket(t)
        setCopied(false)
      })
      .catch(fail)
  const copy = async () => {
    if (!ticket) return
    try {
      await navigator.clipboard.writeText(ticket.ticket)
    } catch {
      // http on another host has no clipboard API: select the text instead
      ;(document.getElementById('ticket') as HTMLTextAreaElement | null)?.select()
      document.execCommand('copy')
    }
    setCopied(true)
  }
  return html`<section id="add">
    <h2>Add device</h2>
    <p>Create a one-time ticket here, then on the other device open <b>Join device</b> and paste it (or scan the code).</p>
    <${DeviceName} id="add-name" name=${name} setName=${setName} />
    <button id="create-ticket" onClick=${create}>${ticket ? 'New ticket' : 'Create ticket'}</button>
    ${
      ticket &&
      html`<div class="card">
      <div class="qr" dangerouslySetInnerHTML=${{ __html: ticket.qrSvg }}></div>
      <textarea id="ticket" readonly rows="4" onFocus=${(e: Event) => (e.target as HTMLTextAreaElement).select()}>${ticket.ticket}</textarea>
      <div class="actions">
        <button id="copy-ticket" onClick=${copy}>${copied ? 'Copied' : 'Copy ticket'}</button>
        <button onClick=${() => client.call('pairing.cancel', { pairingId: ticket.pairingId }).catch(fail)}>Cancel</button>
      </div>
      <p>expires ${when(ticket.expiresAt)}</p>
      <p>state: <b id="pairing-state">${pairing?.state ?? 'waiting'}</b>
        ${pairing?.peerName && html` · with ${pairing.peerName}`} ${pairing?.error && html`<span class="error-text"> · ${pairing.error}</span>`}</p>
    </div>`
    }
  </section>`
}

function JoinDevice() {
  const s = useStore()
  const [text, setText] = useState('')
  const [busy, setBusy] = useState(false)
  const [joined, setJoined] = useState<PeerState | undefined>()
  const [name, setName] = useDeviceName()
  const joining = [...s.pairings.values()].filter((p) => p.role === 'joiner').at(-1)
  const join = () => {
    setBusy(true)
    client
      .call('pairing.join', { ticket: text.trim(), ...(name.trim() === '' ? {} : { name: name.trim() }) }, { timeoutMs: 90_000 })
      .then((p) => setJoined(p))
      .catch(fail)
      .finally(() => setBusy(false))
  }
  return html`<section id="join">
    <h2>Join device</h2>
    <p>Paste the ticket the other device shows under <b>Add device</b>.</p>
    <${DeviceName} id="join-name" name=${name} setName=${setName} />
    <textarea id="join-ticket" rows="4" placeholder="ticket" value=${text} onInput=${(e: Event) => setText((e.target as HTMLTextAreaElement).value)}></textarea>
    <div class="actions"><button id="join-button" disabled=${busy || text.trim() === ''} onClick=${join}>${busy ? 'Joining…' : 'Join'}</button></div>
    ${joining && html`<p>state: <b id="join-state">${joining.state}</b>${joining.error && html`<span class="error-text"> · ${joining.error}</span>`}</p>`}
    ${joined && html`<p id="joined">Paired with <b>${joined.name || short(joined.peerId)}</b> (${joined.status}).</p>`}
  </section>`
}

function Chart({ snapshot }: { snapshot: Snapshot }) {
  const s = useStore()
  const [top, child] = activePath(snapshot.value)
  // on a narrow screen the chart scrolls sideways: keep the current state in the middle of the view
  useEffect(() => {
    const wrap = document.querySelector('.chart-wrap')
    const active = document.querySelector('#statechart g.state.active rect')
    if (!wrap || !active) return
    const w = wrap.getBoundingClientRect()
    const a = active.getBoundingClientRect()
    wrap.scrollLeft += a.left + a.width / 2 - (w.left + w.width / 2)
  }, [top, snapshot.systemId])
  const machine = s.machines.get(snapshot.kind)
  if (!machine) return html`<p class="muted">No statechart for kind ${snapshot.kind}.</p>`
  const l = layout(machine.definition)
  return html`<svg class="chart" id="statechart" viewBox=${`0 0 ${l.width} ${l.height}`} width=${l.width} role="img" aria-label=${`statechart of ${snapshot.systemId}`}>
    <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#778"/></marker></defs>
    ${l.edges.map((e) => {
      const d = e.points.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${x},${y}`).join(' ')
      const [a, b] = e.points as [[number, number], [number, number]]
      const [mx, my] = e.back ? b : [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2]
      return html`<g class="edge"><path d=${d} fill="none" stroke="#99a" marker-end="url(#arrow)"/><text x=${mx + 3} y=${my} class="elabel">${e.label}</text></g>`
    })}
    ${l.nodes.map(
      (n) => html`<g class=${`state${n.name === top ? ' active' : ''}`} data-state=${n.name}>
        <rect x=${n.x} y=${n.y} width=${n.w} height=${n.h} rx="8" />
        <text x=${n.x + 8} y=${n.y + 19} class="sname">${n.name}${n.final ? ' ◉' : ''}</text>
        ${n.children.map(
          (c, i) =>
            html`<text x=${n.x + 16} y=${n.y + 36 + i * 16} class=${`child${n.name === top && c === child ? ' active-child' : ''}`}>${c}</text>`,
        )}
      </g>`,
    )}
  </svg>`
}

function Actors({ selected, select }: { selected: string | undefined; select: (id: string) => void }) {
  const s = useStore()
  const [filter, setFilter] = useState('')
  const list = [...s.actors.values()].filter((a) => a.systemId.includes(filter)).sort((a, b) => a.systemId.localeCompare(b.systemId))
  const current = selected ? s.actors.get(selected) : undefined
  return html`<section id="actors-view">
    <h2>Statecharts</h2>
    ${
      selected &&
      html`<div class="card" id="actor-detail" data-actor=${selected}>
      <h3 class="mono">${selected}</h3>
      ${
        current
          ? html`<p>state: <b id="actor-state">${JSON.stringify(current.value)}</b> · ${current.status} · seq ${current.seq}</p>
            <div class="split"><div class="chart-wrap"><${Chart} snapshot=${current} /></div><pre class="context" id="actor-context">${JSON.stringify(current.context, null, 2)}</pre></div>`
          : html`<p class="muted" id="actor-state">stopped</p>`
      }
    </div>`
    }
    <input placeholder="filter actors" value=${filter} onInput=${(e: Event) => setFilter((e.target as HTMLInputElement).value)} />
    <ul id="actors" class="actors">
      ${list.map(
        (a) => html`<li class=${a.systemId === selected ? 'on' : ''} onClick=${() => select(a.systemId)}>
          <code>${a.systemId}</code> <span class="state">${JSON.stringify(a.value)}</span>
        </li>`,
      )}
    </ul>
  </section>`
}

function dropTopic(topic: string): void {
  store.topics.delete(topic)
  changed()
}

function Topics() {
  const s = useStore()
  const [name, setName] = useState('')
  const [drafts, setDrafts] = useState<Record<string, string>>({})
  const subscribe = async () => {
    const topic = name.trim()
    if (!topic) return
    try {
      await client.call('subscribe', { topic })
      const { peers } = await client.call('listpeers', { topic })
      store.topics.set(topic, { messages: [], members: new Set(peers) })
      setName('')
      changed()
    } catch (err) {
      fail(err)
    }
  }
  const publish = (topic: string) => {
    const text = drafts[topic] ?? ''
    if (!text) return
    client
      .call('publish', { topic, data: { text } })
      .then(() => {
        store.topics.get(topic)?.messages.push({ peer: s.info?.peerid ?? 'me', data: { text }, at: Date.now() })
        setDrafts({ ...drafts, [topic]: '' })
        changed()
      })
      .catch(fail)
  }
  return html`<section id="topics">
    <h2>Topics</h2>
    <div class="row"><input id="topic-name" placeholder="topic" value=${name} onInput=${(e: Event) => setName((e.target as HTMLInputElement).value)} />
      <button id="topic-subscribe" onClick=${subscribe}>Subscribe</button></div>
    ${[...s.topics.entries()].map(
      ([topic, t]) => html`<div class="card topic" data-topic=${topic}>
        <div class="row"><b>${topic}</b><button onClick=${() => client.call('unsubscribe', { topic }).then(() => dropTopic(topic), fail)}>Unsubscribe</button></div>
        <p class="muted members">members: ${t.members.size === 0 ? 'none yet' : [...t.members].map(short).join(', ')}</p>
        <ul class="messages">${t.messages.map(
          (m) =>
            html`<li><span class="muted">${short(m.peer)}</span> ${typeof m.data === 'object' && m.data && 'text' in m.data ? String((m.data as { text: unknown }).text) : JSON.stringify(m.data)}</li>`,
        )}</ul>
        <div class="row"><input class="publish-text" placeholder="message" value=${drafts[topic] ?? ''}
          onInput=${(e: Event) => setDrafts({ ...drafts, [topic]: (e.target as HTMLInputElement).value })}
          onKeyDown=${(e: KeyboardEvent) => e.key === 'Enter' && publish(topic)} />
          <button class="publish" onClick=${() => publish(topic)}>Publish</button></div>
      </div>`,
    )}
  </section>`
}

function Files() {
  const s = useStore()
  const me = s.info?.peerid ?? ''
  const alias = s.info?.alias ?? 'peer-a'
  const [owner, setOwner] = useState('')
  const [dir, setDir] = useState('')
  const [progress, setProgress] = useState<number | undefined>()
  const who = owner || me
  const pickOwner = (peer: string) => {
    setOwner(peer)
    setDir('')
  }
  const newFolder = () => {
    const name = prompt('Folder name')?.trim()
    if (!name) return
    const path = [dir, name].filter(Boolean).join('/')
    client
      .call('storefile', { path, directory: true })
      .then(() => setDir(path), fail)
      .finally(refresh)
  }
  const open = (e: Event, to: string) => {
    e.preventDefault()
    setDir(to)
  }
  const listing = s.files.get(who)
  const refresh = (): void => {
    if (who) client.call('listfiles', { peerid: who }).catch(fail)
  }
  useEffect(refresh, [who])
  // entries are full paths: show the current directory's children
  const children = new Map<string, { type: string; cid: string }>()
  for (const [path, e] of Object.entries(listing?.entries ?? {})) {
    const p = path.replace(/^\/+/, '')
    if (dir && !p.startsWith(`${dir}/`)) continue
    const rest = dir ? p.slice(dir.length + 1) : p
    if (!rest) continue
    const [head, ...more] = rest.split('/')
    if (head === undefined) continue
    children.set(head, more.length > 0 ? { type: 'directory', cid: children.get(head)?.cid ?? '' } : e)
  }
  const upload = (file: File) => {
    const path = [dir, file.name].filter(Boolean).join('/')
    const xhr = new XMLHttpRequest()
    xhr.open('PUT', `/files/${encodeURIComponent(alias)}/${path.split('/').map(encodeURIComponent).join('/')}`)
    xhr.upload.onprogress = (e) => e.lengthComputable && setProgress(e.loaded / e.total)
    xhr.onload = () => {
      setProgress(xhr.status < 300 ? 1 : undefined)
      if (xhr.status >= 300) fail(new Error(`upload failed: ${xhr.status} ${xhr.responseText}`))
      void refresh()
    }
    xhr.onerror = () => {
      setProgress(undefined)
      fail(new Error('upload failed'))
    }
    setProgress(0)
    xhr.send(file)
  }
  const peers = [...s.peers.values()]
  return html`<section id="files">
    <h2>Files</h2>
    <div class="row">
      <select id="files-owner" value=${owner} onChange=${(e: Event) => pickOwner((e.target as HTMLSelectElement).value)}>
        <option value="">this device</option>
        ${peers.map((p) => html`<option value=${p.peerId}>${p.name || short(p.peerId)}</option>`)}
      </select>
      <button onClick=${refresh}>Refresh</button>
      ${!owner && html`<button id="new-folder" onClick=${newFolder}>New folder</button>`}
    </div>
    <p class="mono">/${dir} ${listing?.source === 'replica' ? html`<span class="badge">from replica</span>` : ''}</p>
    <ul class="files" id="file-list">
      ${dir && html`<li><a href="#" onClick=${(e: Event) => open(e, dir.split('/').slice(0, -1).join('/'))}>..</a></li>`}
      ${[...children.entries()].map(([name, e]) =>
        e.type === 'directory'
          ? html`<li class="dir"><a href="#" onClick=${(ev: Event) => open(ev, dir ? `${dir}/${name}` : name)}>${name}/</a></li>`
          : html`<li class="file" data-name=${name}><span>${name}</span> <a class="download" download=${name} href=${`/ipfs/${encodeURIComponent(e.cid)}?filename=${encodeURIComponent(name)}`}>download</a>
              ${!owner && html`<button class="rm" onClick=${() => client.call('removefile', { path: [dir, name].filter(Boolean).join('/') }).then(refresh, fail)}>remove</button>`}</li>`,
      )}
    </ul>
    ${
      !owner &&
      html`<div class="card"><label>Upload to /${dir} <input type="file" id="upload" onChange=${(e: Event) => {
        const f = (e.target as HTMLInputElement).files?.[0]
        if (f) upload(f)
      }} /></label>
      ${progress !== undefined && html`<progress id="upload-progress" max="1" value=${progress}></progress> <span>${Math.round(progress * 100)}%</span>`}</div>`
    }
  </section>`
}

function ActivityFeed() {
  const s = useStore()
  return html`<section id="activity">
    <h2>Activity</h2>
    <ul class="activity">${s.activity.map(
      (a) => html`<li class=${`act-${a.type}`}><span class="muted">${new Date(a.at).toLocaleTimeString()}</span> ${a.message}</li>`,
    )}</ul>
  </section>`
}

function App() {
  const initial = (location.hash.slice(1).split('/')[0] as View) || 'peers'
  const [view, setView] = useState<View>(VIEWS.includes(initial) ? initial : 'peers')
  const [actor, setActor] = useState<string | undefined>(() => {
    const [v, ...rest] = location.hash.slice(1).split('/')
    return v === 'actors' && rest.length > 0 ? decodeURIComponent(rest.join('/')) : undefined
  })
  const go = (v: View) => {
    setView(v)
    history.replaceState(null, '', `#${v}`)
  }
  const openActor = (id: string) => {
    setActor(id)
    setView('actors')
    history.replaceState(null, '', `#actors/${encodeURIComponent(id)}`)
  }
  return html`<${Header} />
    <${Nav} view=${view} go=${go} />
    <main>
      ${view === 'peers' && html`<${Peers} openActor=${openActor} />`}
      ${view === 'add' && html`<${AddDevice} />`}
      ${view === 'join' && html`<${JoinDevice} />`}
      ${view === 'actors' && html`<${Actors} selected=${actor} select=${openActor} />`}
      ${view === 'topics' && html`<${Topics} />`}
      ${view === 'files' && html`<${Files} />`}
      ${view === 'activity' && html`<${ActivityFeed} />`}
    </main>`
}

const root = document.getElementById('root') as HTMLElement
root.replaceChildren()
render(html`<${App} />`, root)
load().catch(fail)
// after a reconnect the client restored the actor subscription; peers and info may have moved on
client.on('reconnected', () => void load().catch(fail))
