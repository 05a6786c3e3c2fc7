import { X509Certificate, createPrivateKey } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { ConfigError } from '../config.ts'

/** What the `/tls/ws` listener serves: the PEM certificate (chain) and its private key, as node:https takes them. */
export interface TlsCredentials {
  cert: string
  key: string
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
  return { cert, key }
}
