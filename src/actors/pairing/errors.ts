import { ForbiddenError, GoneError } from '../../errors.ts'

/** The ticket expired, was used, or was cancelled (410). */
export class TicketGoneError extends GoneError {
  override name = 'TicketGoneError'
}

/** The other device refused our proof of the ticket's secret, or did not prove it itself (403). */
export class PairingRefusedByPeerError extends ForbiddenError {
  override name = 'PairingRefusedByPeerError'
}
