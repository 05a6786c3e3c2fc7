#!/usr/bin/env node
// Runs the compiled CLI in dist/, which `npm run build` makes from src/ (`npm install` runs it through
// `prepare`, `npm start` through `prestart`). Tests run src/ through tsx instead (test/support/process-daemon.ts).
import { existsSync } from 'node:fs'

const main = new URL('../dist/cli/main.js', import.meta.url)
if (!existsSync(main)) {
  process.stderr.write('switchboard: dist/ is not built; run `npm run build` (or `npm install`) first\n')
  process.exit(1)
}
// stack traces name the TypeScript sources (tsc writes the maps beside dist/)
process.setSourceMapsEnabled(true)
await import(main.href)
