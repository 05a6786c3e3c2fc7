import type { Page } from 'playwright-core'

/** A push frame as a page's WebSocket client saw it, with performance.now() of its arrival. */
export interface SeenPush {
  method: string
  params: Record<string, unknown>
  at: number
}

/** What installPageRpc puts on `window.sb` in a page served by the daemon (token cookie set). */
export interface PageRpc {
  call(method: string, params?: unknown): Promise<unknown>
  pushes: SeenPush[]
}

declare global {
  interface Window {
    sb?: PageRpc
  }
}

/**
 * Open a plain `new WebSocket(ws://host/ws)` in a page of the daemon's origin (the cookie is its
 * token) and keep every push it gets: a WebSocket client where only the browser can reach the
 * daemon (inside a network namespace).
 */
export async function installPageRpc(page: Page): Promise<void> {
  await page.evaluate(async () => {
    const ws = new WebSocket(`ws://${location.host}/ws`)
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve()
      ws.onerror = () => reject(new Error('websocket refused'))
    })
    let id = 0
    const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
    const pushes: SeenPush[] = []
    ws.onmessage = (m) => {
      const f = JSON.parse(String(m.data))
      if (f.isresponse) {
        const p = pending.get(f.requestid)
        pending.delete(f.requestid)
        if (f.error) p?.reject(new Error(`${f.error.code}: ${f.error.message}`))
        else p?.resolve(f.result)
      } else pushes.push({ method: f.method, params: f.params, at: performance.now() })
    }
    window.sb = {
      pushes,
      call: (method, params = {}) =>
        new Promise((resolve, reject) => {
          const requestid = ++id
          pending.set(requestid, { resolve, reject })
          ws.send(JSON.stringify({ requestid, method, params }))
        }),
    }
  })
}
