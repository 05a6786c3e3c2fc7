// A Stryker ignorer (stryker.config.mjs `ignorers: ['machine-docs']`): mutants that cannot change what
// a machine does are left out of the score instead of being reported as survivors.
// - `description: '...'` of a machine or state: documentation, shown in docs/statecharts and machines.list
//   (test/docs keeps those pages in step with the machines; mutating the prose is not a behaviour change).
// - `types: {...}` in setup(): TypeScript-only, erased at run time.
// - the bodies of `fromPromise(...)`/`fromCallback(...)` placeholders in setup's `actors` (the only place
//   machines use them): the daemon (src/actors/supervisor/system.ts) and every test provide the real or fake
//   implementation, so a placeholder body never runs (nor does an `actors` object of placeholders only, emptied).
//   Child machines listed there are mutated as usual.
import { declareValuePlugin, PluginKind } from '@stryker-mutator/api/plugin'

const PLACEHOLDERS = new Set(['fromPromise', 'fromCallback'])
const keyName = (property) => property.node.key?.name ?? property.node.key?.value

function isSetupOption(property) {
  const object = property.parentPath
  const call = object?.parentPath
  return object?.isObjectExpression() && call?.isCallExpression() && call.node.callee?.name === 'setup'
}

export const strykerPlugins = [
  declareValuePlugin(PluginKind.Ignore, 'machine-docs', {
    shouldIgnore(path) {
      // emptying an `actors` object that holds nothing but placeholders: everything in it is provided anyway
      const owner = path.parentPath
      if (path.isObjectExpression() && owner?.isObjectProperty() && keyName(owner) === 'actors' && isSetupOption(owner)) {
        const values = path.node.properties.map((property) => property.value)
        if (values.every((value) => value?.type === 'CallExpression' && PLACEHOLDERS.has(value.callee?.name)))
          return 'an actors object of placeholders only is always replaced by provide()'
      }
      for (let p = path; p; p = p.parentPath) {
        if (p.isCallExpression() && PLACEHOLDERS.has(p.node.callee?.name) && p !== path)
          return 'a placeholder actor is always replaced by provide()'
        if (!p.isObjectProperty()) continue
        const key = keyName(p)
        if (key === 'description') return 'a description is documentation, not behaviour'
        if (key === 'types' && isSetupOption(p)) return 'setup types are erased at run time'
      }
      return undefined
    },
  }),
]
