import type { Method } from '../method.ts'
import { actorsMethods } from './actors.methods.ts'
import { dhtMethods } from './dht.methods.ts'
import { messagingMethods } from './messaging.methods.ts'
import { filesMethods } from './files.methods.ts'
import { nodeMethods } from './node.methods.ts'
import { pairingMethods } from './pairing.methods.ts'
import { peersMethods } from './peers.methods.ts'
import { presenceMethods } from './presence.methods.ts'
import { protectionMethods } from './protection.methods.ts'
import { pubsubMethods } from './pubsub.methods.ts'
import { sessionMethods } from './session.methods.ts'

/** Every method the WebSocket endpoint answers, by name. */
export function allMethods(): Map<string, Method> {
  const list = [
    ...nodeMethods,
    ...actorsMethods,
    ...dhtMethods,
    ...peersMethods,
    ...pairingMethods,
    ...sessionMethods,
    ...pubsubMethods,
    ...filesMethods,
    ...protectionMethods,
    ...presenceMethods,
    ...messagingMethods,
  ] as Method[]
  return new Map(list.map((m) => [m.name, m]))
}
