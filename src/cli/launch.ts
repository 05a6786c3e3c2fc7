/**
 * The built program's entry, dist/switchboard.mjs (bin/switchboard.js imports it): runs the daemon and CLI
 * bundled beside it, dist/switchboard.cjs, through its V8 code cache (code-cache.ts).
 */
import { fileURLToPath } from 'node:url'
import { runBundle } from './code-cache.ts'

runBundle(fileURLToPath(new URL('./switchboard.cjs', import.meta.url)), process.argv.slice(2))
