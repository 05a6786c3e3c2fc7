// @peculiar/x509's dependency injection needs the Reflect metadata API loaded first
import 'reflect-metadata'
import { X509Certificate as NodeX509, createPrivateKey } from 'node:crypto'
import { BasicConstraintsExtension, X509CertificateGenerator } from '@peculiar/x509'
import { base64url } from 'multiformats/bases/base64'
import { sha256 } from 'multiformats/hashes/sha2'
import { type Static, Type } from '@sinclair/typebox'
import { jsonFile } from './json-file.ts'

/** What @libp2p/webrtc's `webRTCDirect({certificate})` takes: PEMs and the multibase certhash. */
export interface WebRTCCertificate {
  privateKey: string
  pem: string
  certhash: string
}

/** What the file holds: the PEMs; the certhash is derived from the certificate on load. */
const StoredSchema = Type.Object({ privateKey: Type.String(), pem: Type.String() })
type Stored = Static<typeof StoredSchema>

const certificateFile = (path: string) =>
  jsonFile({ path, format: 'switchboard-webrtc-direct-certificate', version: 1, schema: StoredSchema })

const DAY = 24 * 60 * 60 * 1000

export interface CertificateOptions {
  /** Validity of a new certificate. The certhash is part of every address we hand out, so it lives long. */
  lifespanMs?: number
  /** A stored certificate with less than this left is replaced at start. */
  renewBeforeMs?: number
  now?: () => number
  log?: (msg: string) => void
}

/**
 * The WebRTC-direct certificate of a persistent node, loaded from `path` or made and saved there.
 * libp2p makes a fresh one on every start unless it has a keychain, which changes the `certhash` in
 * every address peers and browsers saved; owning the file keeps the addresses stable across restarts.
 */
export async function loadOrCreateWebRTCCertificate(path: string, opts: CertificateOptions = {}): Promise<WebRTCCertificate> {
  const now = opts.now ?? Date.now
  const renewBeforeMs = opts.renewBeforeMs ?? 30 * DAY
  const file = certificateFile(path)
  const loaded = await file.loadOrQuarantine({
    what: 'the WebRTC-direct certificate',
    instead: 'making a new one (its certhash changes)',
    log: opts.log ?? (() => {}),
    use: (stored) => ({ stored, cert: parse(stored) }),
  })
  if (loaded !== undefined) {
    if (Date.parse(loaded.cert.validTo) > now() + renewBeforeMs) return { ...loaded.stored, certhash: await certhashOf(loaded.cert.raw) }
    opts.log?.(`${path}: WebRTC-direct certificate expires ${loaded.cert.validTo}; renewing (its certhash changes)`)
  }
  const fresh = await generate(now(), opts.lifespanMs ?? 365 * DAY)
  await file.save(fresh)
  return { ...fresh, certhash: await certhashOf(new NodeX509(fresh.pem).raw) }
}

/** The stored certificate, if it parses and its private key belongs to it; a throw makes the file corrupt. */
function parse(stored: Stored): NodeX509 {
  try {
    const cert = new NodeX509(stored.pem)
    if (!cert.checkPrivateKey(createPrivateKey(stored.privateKey))) throw new Error('the private key does not belong to the certificate')
    return cert
  } catch (err) {
    throw new Error(`unusable certificate: ${(err as Error).message}`)
  }
}

async function generate(now: number, lifespanMs: number): Promise<Stored> {
  const keys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair
  // whole seconds: X.509 dates carry no milliseconds
  const notBefore = new Date(Math.floor(now / 1000) * 1000)
  const cert = await X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: crypto.getRandomValues(new Uint8Array(8)).reduce((s, b) => s + b.toString(16).padStart(2, '0'), '01'),
      name: 'CN=switchboard',
      notBefore,
      notAfter: new Date(notBefore.getTime() + lifespanMs),
      keys,
      extensions: [new BasicConstraintsExtension(false, undefined, true)],
    },
    crypto,
  )
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64')
  const privateKey = `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)?.join('\n')}\n-----END PRIVATE KEY-----\n`
  return { privateKey, pem: cert.toString('pem') }
}

/** The multibase (base64url) sha2-256 multihash of the DER certificate, as WebRTC-direct addresses carry it. */
async function certhashOf(der: Uint8Array): Promise<string> {
  return base64url.encode((await sha256.digest(new Uint8Array(der))).bytes)
}
