/**
 * QR codes for pairing tickets, as SVG markup, made locally by `qrcode` (node-qrcode; no network).
 *
 * A ticket (`sbp1` + base32) is encoded upper case: QR's alphanumeric mode holds 0-9, A-Z but no
 * lower case, and takes 5.5 bits a character where byte mode takes 8, so the code is smaller and
 * easier to scan. decodeTicket reads either case. Any other text is encoded as it is.
 */
import QRCode from 'qrcode'
import { TICKET_PREFIX } from './ticket.ts'

const TICKET_TEXT = new RegExp(`^${TICKET_PREFIX}[a-z2-7]+$`)

/** `<svg ... viewBox="0 0 N N">` of `text` (error correction M: readable with 15% of it damaged). */
export async function qrSvg(text: string): Promise<string> {
  const data = TICKET_TEXT.test(text) ? text.toUpperCase() : text
  return QRCode.toString(data, { type: 'svg', errorCorrectionLevel: 'M', margin: 4 })
}
