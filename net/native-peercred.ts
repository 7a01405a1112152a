// Who is on the other end of a local (unix-domain) connection: SO_PEERCRED through the native addon.
// The LocalAPI uses the uid to gate write endpoints. Everything here fails closed: when the addon is
// missing, the socket is not a unix socket, or the kernel refuses, the answer is null and the caller
// must treat the peer as unprivileged.
import type { Socket } from 'node:net';
import { loadNative } from './native-addon.js';

export interface PeerCredentials {
  uid: number;
  gid: number;
  pid: number;
}

/** SO_PEERCRED of a connected unix-socket fd, or null when unavailable. */
export function peerCredentialsFromFd(fd: number): PeerCredentials | null {
  const addon = loadNative();
  if (addon === null || !Number.isInteger(fd) || fd < 0) return null;
  try {
    return addon.peerCred(fd);
  } catch {
    return null;
  }
}

/**
 * SO_PEERCRED of an accepted net.Socket (e.g. an HTTP request's `req.socket` on a unix-socket server),
 * read through its libuv handle's fd; null when unavailable (fail closed).
 */
export function peerCredentials(socket: Socket): PeerCredentials | null {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle;
  const fd = handle?.fd;
  return typeof fd === 'number' ? peerCredentialsFromFd(fd) : null;
}
