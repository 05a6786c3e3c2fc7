// A Stryker ignorer (stryker.config.mjs `ignorers: ['machine-docs']`): mutants that cannot change what
// a machine does are left out of the score instead of being reported as survivors.
// - `description: '...'` of a machine or state: documentation, shown in docs/statecharts and machines.list
//   (test/docs keeps those pages in step with the machines; mutating the prose is not a behaviour change).
// - `types: {...}` in setup(): TypeScript-only, erased at run time.
// - `actors: {...}` in setup(): placeholders with the right types; the daemon (src/actors/supervisor/system.ts)
//   and every test provide the real or fake implementation, so the placeholder bodies never run.
import { declareValuePlugin, PluginKind } from '@stryker-mutator/api/plugin'

const keyName = (property) => property.node.key?.name ?? property.node.key?.value

function isSetupOption(property) {
  const object = property.parentPath
  const call = object?.parentPath
  return object?.isObjectExpression() && call?.isCallExpression() && call.node.callee?.name === 'setup'
}

export const strykerPlugins = [
  declareValuePlugin(PluginKind.Ignore, 'machine-docs', {
    shouldIgnore(path) {
      for (let p = path; p; p = p.parentPath) {
        if (!p.isObjectProperty()) continue
        const key = keyName(p)
        if (key === 'description') return 'a description is documentation, not behaviour'
        if ((key === 'types' || key === 'actors') && isSetupOption(p))
          return key === 'types' ? 'setup types are erased at run time' : 'placeholder actors are always replaced by provide()'
      }
      return undefined
    },
  }),
]
