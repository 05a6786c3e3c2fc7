import { setTimeout as delay } from 'node:timers/promises'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { fromPromise } from 'xstate'
import type { HandshakeResult } from '../../machines/pairing/pairing.types.ts'
import type { Reputation } from '../../p2p/reputation.ts'
import type { SwitchboardLibp2p } from '../../p2p/node-factory.ts'
import type { PeerControl } from '../peer/peer-control.ts'
import { sendChanged } from '../sync/sync-protocol.ts'
import { HandshakeInterruptedError, joinerHandshake, PAIR_PROTOCOL } from './pair-protocol.ts'
import type { PairingService } from './pairing-service.ts'

export interface PairingEffectDeps {
  /** The running node's pairing service and libp2p (throw while it is not running). */
  service: (alias: string) => PairingService
  libp2p: (alias: string) => SwitchboardLibp2p
  peers: () => Pick<PeerControl, 'learnAddresses' | 'connect' | 'update' | 'forget' | 'ref'>
  reputation: Pick<Reputation, 'violation'>
}

type Step = { alias: string; peerId: string; pairingId: string }

/** Tries of a handshake whose stream broke before anything was saved. */
const HANDSHAKE_ATTEMPTS = 3

/** The pairing machine's side effects: dial and handshake for a joiner, remember for both, penalize wrong proofs. */
export function pairingEffects(d: PairingEffectDeps) {
  return {
    actors: {
      dial: fromPromise<void, Step>(async ({ input, signal }) => {
        const { parsed } = d.service(input.alias).joining(input.pairingId)
        // the ticket's addresses are where the device said it is: kept as `pairing` in the address book
        await d.peers().learnAddresses(
          input.alias,
          input.peerId,
          parsed.addrs.map((a) => multiaddr(a)),
          'pairing',
        )
        const result = await d.peers().connect(input.alias, input.peerId, signal)
        if (!result.success) throw new Error(result.error ?? 'the dial failed')
      }),
      handshake: fromPromise<HandshakeResult, Step & { name: string }>(async ({ input, signal }) => {
        const { secret } = d.service(input.alias).joining(input.pairingId)
        const libp2p = d.libp2p(input.alias)
        // a stream that breaks before we confirm leaves nothing saved anywhere: run it again on a
        // fresh one (the machine's handshake timeout bounds the whole)
        for (let attempt = 1; ; attempt++) {
          const stream = await libp2p.dialProtocol(peerIdFromString(input.peerId), PAIR_PROTOCOL, { signal })
          try {
            return await joinerHandshake(stream, {
              pairingId: input.pairingId,
              secret,
              name: input.name,
              self: libp2p.peerId.toString(),
              initiator: input.peerId,
              signal,
            })
          } catch (err) {
            stream.abort(err as Error)
            if (!(err instanceof HandshakeInterruptedError) || attempt >= HANDSHAKE_ATTEMPTS) throw err
            // the initiator notices the broken stream and waits for a joiner again
            await delay(250 * attempt, undefined, { signal })
          }
        }
      }),
      remember: fromPromise<void, Step & { peerName: string }>(async ({ input, signal }) => {
        signal.throwIfAborted()
        const ticket = d.service(input.alias).ticketOf(input.pairingId)
        const knownBefore = d.peers().ref(input.alias, input.peerId)?.getSnapshot().context.known === true
        await d.peers().update(input.alias, input.peerId, {
          known: true,
          autoConnect: true,
          name: input.peerName,
          ...(ticket !== undefined ? { ticket } : {}),
        })
        // the pairing ended while the write ran (the ticket expired, a client cancelled): it did not
        // pair, so a peer it made known is forgotten again
        if (signal.aborted) {
          if (!knownBefore)
            await d
              .peers()
              .forget(input.alias, input.peerId)
              .catch(() => {})
          signal.throwIfAborted()
        }
        // the other side saved us first and synced at once, and our sync responder refused it (it
        // answers known peers only): a change notice, which it takes now that we know it, makes it
        // sync again. Best effort: a peer that has gone syncs on its next connection anyway.
        void sendChanged(d.libp2p(input.alias), peerIdFromString(input.peerId), {
          timeoutMs: 10_000,
          onViolation: () => d.reputation.violation(input.peerId, 'malformed-frame'),
        }).catch(() => {})
      }),
    },
    actions: {
      penalize: (_: unknown, params: { peerId: string }) => {
        d.reputation.violation(params.peerId, 'bad-pairing-proof')
      },
    },
  }
}

export type PairingEffects = ReturnType<typeof pairingEffects>
