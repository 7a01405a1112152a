// The console's HTTP hardening, in one place: response headers (a strict Content-Security-Policy with no
// inline script or style, no framing, no caching of anything signed-in), the session cookie's name and
// flags, and the same-origin check on writes. Pure functions of the request and whether TLS is on.
//
// The cookie is HttpOnly (page script never sees it), SameSite=Strict (no other site's page can make the
// browser send it), Path=/ (the console calls /api/v1 with it) and, under TLS, Secure with the __Host-
// prefix (the browser then refuses it over plain HTTP or with a Domain attribute).
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

/** Headers on every console response; `cache` false (the default) adds no-store. */
export function securityHeaders(cache = false): OutgoingHttpHeaders {
  return {
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    // not no-referrer: with it, browsers send `Origin: null` on the console's own form posts
    'referrer-policy': 'same-origin',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'cache-control': cache ? 'no-cache' : 'no-store',
  };
}

export function sessionCookieName(tls: boolean): string {
  return tls ? '__Host-gw_console' : 'gw_console';
}

/** Set-Cookie for a new session; `value` '' with maxAge 0 clears it. */
export function sessionCookie(tls: boolean, value: string, maxAgeSeconds: number): string {
  const parts = [`${sessionCookieName(tls)}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Strict', `Max-Age=${maxAgeSeconds}`];
  if (tls) parts.push('Secure');
  return parts.join('; ');
}

/** The session cookie's value from a Cookie header, or undefined. */
export function readSessionCookie(req: IncomingMessage, tls: boolean): string | undefined {
  const header = req.headers.cookie;
  if (typeof header !== 'string' || header.length > 8192) return undefined;
  const name = sessionCookieName(tls);
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * False when the request names an Origin (or, lacking one, a Referer) other than this server's own:
 * browsers send Origin on every cross-origin POST, so a form on another site that targets the console is
 * refused even before its missing CSRF token is. No Origin and no Referer (curl, tests) passes here; the
 * CSRF token still decides.
 */
export function sameOrigin(req: IncomingMessage, tls: boolean): boolean {
  const host = req.headers.host;
  const origin = req.headers.origin ?? refererOrigin(req.headers.referer);
  if (origin === undefined) return true;
  if (typeof host !== 'string') return false;
  return origin === `${tls ? 'https' : 'http'}://${host}`;
}

function refererOrigin(referer: string | undefined): string | undefined {
  if (referer === undefined) return undefined;
  try {
    return new URL(referer).origin;
  } catch {
    return 'null';
  }
}
