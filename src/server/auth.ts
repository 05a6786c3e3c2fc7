import type { FastifyRequest } from 'fastify'
import { tokenMatches } from '../p2p/data-dir.ts'

export const TOKEN_COOKIE = 'switchboard_token'

function cookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim())
      } catch {
        // a malformed escape is a wrong token, not a server error
        return undefined
      }
    }
  }
  return undefined
}

/** The token a request presents: Authorization bearer, `token` query parameter, or our cookie. */
export function presentedToken(req: FastifyRequest): string | undefined {
  const auth = req.headers.authorization
  // the scheme is case-insensitive (RFC 9110)
  if (auth !== undefined && /^bearer /i.test(auth)) return auth.slice(7).trim()
  const q = (req.query as Record<string, unknown> | undefined)?.token
  if (typeof q === 'string') return q
  return cookie(req.headers.cookie, TOKEN_COOKIE)
}

export function authorized(req: FastifyRequest, token: string): boolean {
  return tokenMatches(presentedToken(req), token)
}

/**
 * A browser upgrade must come from the daemon's own origin or an allowed one; a non-browser
 * client sends no Origin and is judged by its token alone.
 */
export function originAllowed(req: FastifyRequest, allowed: string[]): boolean {
  const origin = req.headers.origin
  if (origin === undefined) return true
  const host = req.headers.host
  if (host !== undefined && (origin === `http://${host}` || origin === `https://${host}`)) return true
  return allowed.includes(origin)
}
