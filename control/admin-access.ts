// Who may reach the admin API at all, before any token is looked at. Bearer tokens and newly created auth
// keys travel in the request and response bodies: over plain HTTP anyone on the path reads them. So
// without TLS only callers on this host (loopback) are answered; with TLS (`serve --tls-cert/--tls-key`)
// any address may try, and the token decides. Pure.
import { isIP } from 'node:net';

/** 127.0.0.0/8, ::1 and the IPv4-mapped form of 127.0.0.0/8 (what a dual-stack listener reports). */
export function isLoopbackAddress(addr: string | undefined): boolean {
  if (addr === undefined) return false;
  const v4 = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  if (isIP(v4) === 4) return v4.startsWith('127.');
  return addr === '::1' || addr === '0:0:0:0:0:0:0:1';
}

/** The 403 message for a caller the admin API must not answer, or null when it may proceed. */
export function adminApiRefusal(tls: boolean, remoteAddress: string | undefined): string | null {
  if (tls || isLoopbackAddress(remoteAddress)) return null;
  return `the admin API is served only to loopback callers while control runs without TLS (tokens and auth keys would cross the network in clear text); call it from the control host, or start control with --tls-cert and --tls-key`;
}
