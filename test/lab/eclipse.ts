import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { fmt } from '../../bench/machine.ts'
import { AddressBook, DEFAULT_MAX_PER_GROUP } from '../../src/p2p/address-book.ts'
import { CLI_ARGS } from '../support/process-daemon.ts'
import type { Lab, LabHost } from './lab.ts'
import { tcpAddrOf } from './lab-daemon.ts'
import type { Member } from './scenarios.ts'

const run = promisify(execFile)

type Entry = { multiaddr: string; peerId?: string; source: string; quality: number }
const group = (ma: string) => /^\/ip4\/(\d+)\.(\d+)\./.exec(ma)?.slice(1, 3).join('.') ?? 'other'

/**
 * Scenario 5: `count` attacker identities on one /16 (10.99.0.0/16) connect to the victim from
 * `attackerHost` and claim their addresses there through identify, the way any peer fills an
 * address book. Then: how many of them the victim's book kept (its per-group limit), and what the
 * book's selection picks: the victim's entries in a fresh AddressBook, best(8) drawn 1000 times.
 */
export async function runEclipse(_lab: Lab, victim: Member, attackerHost: LabHost, count: number): Promise<string[]> {
  const list = async () => (await victim.client.call<{ entries: Entry[] }>('addressbook.list', {})).entries
  const before = await list()
  const script = join(import.meta.dirname, 'attacker.ts')
  const { stdout } = await run(
    'ip',
    ['netns', 'exec', attackerHost.name, process.execPath, ...CLI_ARGS.slice(0, 2), script, tcpAddrOf(victim.daemon), String(count)],
    {
      maxBuffer: 1 << 20,
      timeout: 300_000,
    },
  )
  const attack = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as {
    connected: number
    failed: number
    lastError: string
    ms: number
  }
  const after = await list()
  const byGroup = new Map<string, number>()
  for (const e of after) byGroup.set(group(e.multiaddr), (byGroup.get(group(e.multiaddr)) ?? 0) + 1)
  const attackerEntries = byGroup.get('10.99') ?? 0
  const honestBefore = before.filter((e) => group(e.multiaddr) !== '10.99').length
  const honestAfter = after.filter((e) => group(e.multiaddr) !== '10.99').length

  const book = new AddressBook({ allowPrivate: true, allowLoopback: true })
  for (const e of after) book.add(e.multiaddr, { peerId: e.peerId, source: e.source as never })
  let picks = 0
  let attackerPicks = 0
  let drawsWithHonest = 0
  for (let i = 0; i < 1000; i++) {
    const best = book.best(8)
    picks += best.length
    const bad = best.filter((e) => group(e.multiaddr) === '10.99').length
    attackerPicks += bad
    if (best.length > bad) drawsWithHonest++
  }
  return [
    `- ${attack.connected} of ${count} attacker identities connected and were identified (${attack.failed} refused${attack.failed > 0 ? `: ${attack.lastError}` : ''}) in ${fmt(attack.ms / 1000, 1)} s`,
    `- the victim's address book holds ${attackerEntries} entries in 10.99.0.0/16 (limit ${DEFAULT_MAX_PER_GROUP} per group); other entries ${honestBefore} before, ${honestAfter} after (groups: ${[...byGroup].map(([g, n]) => `${g} ${n}`).join(', ')})`,
    `- selection (best(8) over those entries, 1000 draws): ${fmt(picks / 1000, 1)} addresses a draw, ${fmt((100 * attackerPicks) / Math.max(1, picks), 0)}% of them the attacker's; ${drawsWithHonest} of 1000 draws pick outside the attacker's group`,
  ]
}
