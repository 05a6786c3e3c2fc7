// What may import what, between the layers of src: checked by `npm run lint`, and by test/docs/layers.test.ts,
// which also shows each rule failing on the small tree under test/fixtures/layers.
// CommonJS because package.json says "type": "module" and dependency-cruiser loads its config with require.

// The libp2p and Helia packages, wherever node_modules sits (a fixture tree resolves them from the repo root),
// and by bare name too, so a package that fails to resolve still counts.
const LIBP2P_OR_HELIA = '(^|/)node_modules/(libp2p|@libp2p/[^/]+|helia|@helia/[^/]+)/|^(libp2p|@libp2p/[^/]+|helia|@helia/[^/]+)(/|$)'

/** @type {import('dependency-cruiser').IForbiddenRuleType[]} */
const forbidden = [
  {
    name: 'no-circular',
    comment: 'An import circle means two modules cannot be understood, built or tested apart. Type-only imports count too.',
    severity: 'error',
    from: { path: '^src/' },
    to: { circular: true },
  },
  {
    name: 'machines-only-xstate',
    comment:
      'Machines are pure statecharts: XState, the TypeBox schemas of their client events, and their own files. ' +
      'Everything they need from the outside arrives as input, events or provided actors.',
    severity: 'error',
    from: { path: '^src/machines/' },
    to: { pathNot: ['^src/machines/', '(^|/)node_modules/(xstate|@sinclair/typebox)/'] },
  },
  {
    name: 'server-no-libp2p-or-helia',
    comment: 'The server validates, calls a service and maps the result; libp2p and Helia work belongs to the services behind it.',
    severity: 'error',
    from: { path: '^src/server/' },
    to: { path: LIBP2P_OR_HELIA },
  },
  {
    name: 'actors-not-server',
    comment: 'Actors and services do the work; the server is one face of them (the CLI and tests are others).',
    severity: 'error',
    from: { path: '^src/actors/' },
    to: { path: '^src/server/' },
  },
  {
    name: 'p2p-not-actors-or-server',
    comment: 'src/p2p is the layer below actors and server: it must not know who uses it.',
    severity: 'error',
    from: { path: '^src/p2p/' },
    to: { path: '^src/(actors|server)/' },
  },
]

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden,
  options: {
    // type-only imports are dependencies of the design even though they vanish at run time
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    // libp2p and Helia are ESM-only packages that resolve through "exports" under the import condition
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types'],
    },
  },
}
