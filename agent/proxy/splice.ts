// Two byte streams joined both ways, as a proxy does once a tunnel is up (SOCKS5 CONNECT, HTTP CONNECT).
import type { Duplex } from 'node:stream';

/** Pipes two streams both ways; either side's end half-closes the other, an error or reset destroys both. */
export function splice(a: Duplex, b: Duplex): void {
  a.pipe(b);
  b.pipe(a);
  const kill = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', kill);
  b.on('error', kill);
  // A side that closed without a clean end (reset, destroyed) takes the other down; a clean end is
  // passed on by pipe() as a half-close and the other direction keeps flowing.
  a.on('close', () => {
    if (!a.readableEnded) b.destroy();
  });
  b.on('close', () => {
    if (!b.readableEnded) a.destroy();
  });
}
