#!/usr/bin/env node
// Runs the bundled daemon and CLI, dist/switchboard.cjs, through its launcher dist/switchboard.mjs (its V8 code
// cache: src/cli/code-cache.ts), both of which `npm run build` makes from src/ (`npm install` runs it through
// `prepare`, `npm start` through `prestart`; scripts/build-daemon.ts). Tests run src/ through tsx instead
// (test/support/process-daemon.ts).
import { existsSync } from 'node:fs'

const main = new URL('../dist/switchboard.mjs', import.meta.url)
if (!existsSync(main)) {
  process.stderr.write('switchboard: dist/ is not built; run `npm run build` (or `npm install`) first\n')
  process.exit(1)
}
// Source maps are off: parsing the bundle's map costs about 150 ms of every start. For stack traces that
// name the TypeScript sources: node --enable-source-maps bin/switchboard.js ...
await import(main.href)
