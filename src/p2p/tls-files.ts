import { X509Certificate, createPrivateKey } from 'node:crypto'
import { unwatchFile, watchFile } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { ConfigError } from '../config.ts'

/** What the `/tls/ws` listener serves: the PEM certificate (chain) and its private key, as node:https takes them. */
export interface TlsCredentials {
  cert: string
  key: string
  /** The files they were read from (absolute), watched for a renewed certificate while the node runs. */
  certFile?: string
  keyFile?: string
}

async function readPem(field: string, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message
    throw new ConfigError(`${field} ${path}: cannot read (${why})`)
  }
}

/**
 * Read the certificate and key the user gave for the secure WebSockets listener, and check them
 * before any listener starts: each file must hold PEM of its kind and the key must belong to the
 * certificate. Every failure is one ConfigError (exit 3) naming the file at fault.
 */
export async function loadTlsCredentials(files: { certFile: string; keyFile: string }, baseDir = process.cwd()): Promise<TlsCredentials> {
  const certFile = resolve(baseDir, files.certFile)
  const keyFile = resolve(baseDir, files.keyFile)
  const cert = await readPem('tls.certFile', certFile)
  const key = await readPem('tls.keyFile', keyFile)
  let x509: X509Certificate
  try {
    if (!cert.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate (-----BEGIN CERTIFICATE-----) in it')
    x509 = new X509Certificate(cert)
  } catch (err) {
    throw new ConfigError(`tls.certFile ${certFile}: not a usable certificate: ${(err as Error).message}`)
  }
  let privateKey: ReturnType<typeof createPrivateKey>
  try {
    if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key)) throw new Error('no PEM private key (-----BEGIN PRIVATE KEY-----) in it')
    privateKey = createPrivateKey(key)
  } catch (err) {
    throw new ConfigError(`tls.keyFile ${keyFile}: not a usable private key: ${(err as Error).message}`)
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new ConfigError(`tls.keyFile ${keyFile}: the key does not belong to the certificate in ${certFile}`)
  }
  const expires = Date.parse(x509.validTo)
  if (expires < Date.now()) throw new ConfigError(`tls.certFile ${certFile}: the certificate expired on ${x509.validTo}`)
  return { cert, key, certFile, keyFile }
}

/**
 * Watch the certificate and key files of running listeners (fs.watchFile, polling every
 * `intervalMs`): when they change and still make a valid pair, `apply` gets them (a renewed
 * Let's Encrypt certificate, say, is served without a restart); a pair that does not load (half
 * written, mismatched) is logged and the current one kept. Returns what stops watching.
 */
export function watchTlsCredentials(
  current: TlsCredentials,
  apply: (creds: TlsCredentials) => void,
  opts: { intervalMs?: number; log?: (msg: string) => void } = {},
): () => void {
  const { certFile, keyFile } = current
  if (certFile === undefined || keyFile === undefined) return () => {}
  let last = current
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  const reload = async () => {
    try {
      const next = await loadTlsCredentials({ certFile, keyFile })
      if (stopped || (next.cert === last.cert && next.key === last.key)) return
      last = next
      apply(next)
      opts.log?.(`tls: ${certFile} changed; the /tls/ws listener serves the new certificate`)
    } catch (err) {
      opts.log?.(`tls: ${(err as Error).message}; still serving the previous certificate`)
    }
  }
  const onChange = () => {
    // both files change one after the other: read them once both are written
    clearTimeout(timer)
    timer = setTimeout(() => void reload(), 200)
    timer.unref?.()
  }
  const interval = opts.intervalMs ?? 60_000
  watchFile(certFile, { persistent: false, interval }, onChange)
  watchFile(keyFile, { persistent: false, interval }, onChange)
  return () => {
    stopped = true
    clearTimeout(timer)
    unwatchFile(certFile, onChange)
    unwatchFile(keyFile, onChange)
  }
}
