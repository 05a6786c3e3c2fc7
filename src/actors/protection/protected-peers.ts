import { KEEP_ALIVE } from '@libp2p/interface'

/** Our own tag; its presence also tells us at start which keep-alive tags are ours to clear. */
export const PROTECTED_TAG = 'switchboard-protected'
/** What addpeers sets (seed 000: TagPeer(id, 'connected', 100)); libp2p keeps values in 0..100. */
export const PROTECTION_TAGS = { [KEEP_ALIVE]: { value: 100 }, [PROTECTED_TAG]: { value: 100 } }
export const NO_PROTECTION_TAGS = { [KEEP_ALIVE]: undefined, [PROTECTED_TAG]: undefined }
