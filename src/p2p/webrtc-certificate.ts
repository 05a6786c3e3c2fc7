// @peculiar/x509's dependency injection needs the Reflect metadata API loaded first
import 'reflect-metadata'
import { X509Certificate as NodeX509, createPrivateKey, createPublicKey } from 'node:crypto'
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
    opts.log?.(`${path}: WebRTC-direct certificate expires ${loaded.cert.validTo}; renewing (same key, its certhash changes)`)
  }
  const fresh = await generate(now(), opts.lifespanMs ?? 365 * DAY, loaded?.stored.privateKey)
  await file.save(fresh)
  return { ...fresh, certhash: await certhashOf(new NodeX509(fresh.pem).raw) }
}

/**
 * A new certificate for the key of `current`, saved at `path` in its place. The key stays, but the
 * certhash is the hash of the whole certificate (validity dates included), so it changes: every
 * WebRTC-direct address carrying the old certhash stops dialling once the listener uses the new one.
 */
export async function renewWebRTCCertificate(
  path: string,
  current: WebRTCCertificate,
  opts: Pick<CertificateOptions, 'lifespanMs' | 'now'> = {},
): Promise<WebRTCCertificate> {
  const fresh = await generate((opts.now ?? Date.now)(), opts.lifespanMs ?? 365 * DAY, current.privateKey)
  await certificateFile(path).save(fresh)
  return { ...fresh, certhash: await certhashOf(new NodeX509(fresh.pem).raw) }
}

/** When `cert` stops being valid (ms since the epoch). */
export const expiresAt = (cert: Pick<WebRTCCertificate, 'pem'>): number => Date.parse(new NodeX509(cert.pem).validTo)

/** setTimeout's longest delay (about 24.8 days); longer waits are chained. */
const MAX_TIMER_MS = 2 ** 31 - 1

export interface RenewalOptions extends CertificateOptions {
  path: string
  /** Put the renewed certificate to use (swap it into the listener, announce the new addresses). */
  apply: (cert: WebRTCCertificate) => void | Promise<void>
  /** After a failed renewal, the next try comes this much later (default one hour). */
  retryMs?: number
}

/**
 * Renew the certificate of a running node `renewBeforeMs` before it expires, keeping its key, and
 * again for each renewed one, until stopped: a daemon that runs for months never serves an
 * expired certificate. Timers are unref'd; a failed renewal is logged and tried again later.
 */
export function scheduleWebRTCCertificateRenewal(current: WebRTCCertificate, opts: RenewalOptions): { stop(): void } {
  const now = opts.now ?? Date.now
  const renewBeforeMs = opts.renewBeforeMs ?? 30 * DAY
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  const arm = (at: number, cert: WebRTCCertificate) => {
    if (stopped) return
    const wait = Math.max(0, at - now())
    timer = setTimeout(() => (wait > MAX_TIMER_MS ? arm(at, cert) : void renew(cert)), Math.min(wait, MAX_TIMER_MS))
    timer.unref?.()
  }
  const renew = async (cert: WebRTCCertificate) => {
    if (stopped) return
    try {
      const fresh = await renewWebRTCCertificate(opts.path, cert, opts)
      if (stopped) return
      await opts.apply(fresh)
      opts.log?.(
        `${opts.path}: WebRTC-direct certificate renewed (same key); new certhash ${fresh.certhash}, valid until ${new Date(expiresAt(fresh)).toISOString()}`,
      )
      // never sooner than a second from now, whatever lifespan and window were chosen
      arm(Math.max(expiresAt(fresh) - renewBeforeMs, now() + 1000), fresh)
    } catch (err) {
      opts.log?.(`${opts.path}: could not renew the WebRTC-direct certificate (${(err as Error).message}); trying again later`)
      arm(now() + (opts.retryMs ?? 60 * 60 * 1000), cert)
    }
  }
  arm(expiresAt(current) - renewBeforeMs, current)
  return {
    stop() {
      stopped = true
      clearTimeout(timer)
    },
  }
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

/** The P-256 key pair of a stored PEM private key, as WebCrypto keys. */
async function importKeyPair(privateKeyPem: string): Promise<CryptoKeyPair> {
  const key = createPrivateKey(privateKeyPem)
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256' }
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' })
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' })
  return {
    privateKey: await crypto.subtle.importKey('pkcs8', pkcs8, algorithm, true, ['sign']),
    publicKey: await crypto.subtle.importKey('spki', spki, algorithm, true, ['verify']),
  }
}

/** A self-signed certificate valid from `now` for `lifespanMs`, for the key in `privateKeyPem` or a new one. */
async function generate(now: number, lifespanMs: number, privateKeyPem?: string): Promise<Stored> {
  const keys =
    privateKeyPem !== undefined
      ? await importKeyPair(privateKeyPem)
      : ((await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair)
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
