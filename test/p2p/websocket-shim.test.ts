import { spawnSync } from 'node:child_process'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const SHIMS = resolve(import.meta.dirname, '../../src/shims.ts')

/** Run a module that loads the shims first, in its own Node process (an uncaught error ends it). */
const runWithShims = (body: string) =>
  spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `await import(${JSON.stringify(SHIMS)});\n${body}`], {
    encoding: 'utf8',
    timeout: 30_000,
  })

describe('the Node 20 WebSocket shim', () => {
  it('drops an error nobody listens to, as browsers do: a dial aborted mid-connect cannot kill the process', () => {
    const { status, stderr, stdout } = runWithShims(`
      const refused = new WebSocket('ws://127.0.0.1:1/')
      const onError = () => {}
      refused.addEventListener('error', onError)
      refused.removeEventListener('error', onError) // what an aborted libp2p dial leaves behind
      await new Promise((r) => refused.addEventListener('close', r))
      console.log('still running')
    `)
    expect(stderr).not.toMatch(/ECONNREFUSED|Unhandled/)
    expect(stdout).toContain('still running')
    expect(status).toBe(0)
  })

  it('still reports the error to a listener', () => {
    const { stdout, status } = runWithShims(`
      const refused = new WebSocket('ws://127.0.0.1:1/')
      const seen = await new Promise((r) => refused.addEventListener('error', () => r('error seen')))
      console.log(seen)
    `)
    expect(stdout).toContain('error seen')
    expect(status).toBe(0)
  })
})
