/** The Stately inspector UI the page at GET /inspect embeds (loaded by the user's browser, never by the daemon). */
export const STATELY_INSPECTOR_URL = 'https://stately.ai/inspect'

/**
 * GET /inspect: the bridge @statelyai/inspect's own inspector server (`@statelyai/inspect/server`)
 * serves, pointed at this daemon: the Stately inspector in an iframe, and the daemon's /inspect
 * WebSocket stream forwarded into it with postMessage once it says `@statelyai.connected` (what
 * `createBrowserInspector`'s adapter does). The token comes from the page's own URL (?token=...) or
 * the dashboard's cookie.
 */
export function inspectorPage(inspectorUrl = STATELY_INSPECTOR_URL): string {
  return `<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8">
  <title>Switchboard: Stately inspector</title>
  <style>
    * { margin: 0; padding: 0; }
    html, body { height: 100%; font: 13px system-ui, sans-serif; }
    body { display: flex; flex-direction: column; }
    #status { padding: 4px 8px; background: #222; color: #ddd; }
    iframe { flex: 1; width: 100%; border: none; }
  </style>
</head>
<body>
  <div id="status">connecting to the daemon...</div>
  <iframe id="inspector" src="${inspectorUrl}"></iframe>
  <script>
    const iframe = document.getElementById('inspector');
    const status = document.getElementById('status');
    const buffer = [];
    let connected = false;
    let received = 0;
    window.addEventListener('message', (e) => {
      if (e.source !== iframe.contentWindow || !e.data || e.data.type !== '@statelyai.connected') return;
      connected = true;
      for (const ev of buffer) iframe.contentWindow.postMessage(ev, '*');
      buffer.length = 0;
    });
    const url = new URL('/inspect', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const token = new URLSearchParams(location.search).get('token');
    if (token) url.searchParams.set('token', token);
    const ws = new WebSocket(url);
    ws.onopen = () => { status.textContent = 'streaming the daemon\\'s actors'; };
    ws.onclose = (e) => { status.textContent = 'stream closed (' + e.code + (e.reason ? ': ' + e.reason : '') + '): reload to reconnect'; };
    ws.onmessage = (e) => {
      const ev = JSON.parse(e.data);
      received += 1;
      status.textContent = 'streaming the daemon\\'s actors: ' + received + ' events';
      if (connected) iframe.contentWindow.postMessage(ev, '*');
      else buffer.push(ev);
    };
  </script>
</body>
</html>
`
}
