// Loader and typed surface of the native addon (native/*.cc, built by node-gyp into
// build/Release/grantwire_native.node during `npm ci`). The addon does what Node cannot: TUN devices,
// rtnetlink configuration, batched UDP (recvmmsg/sendmmsg) driven by uv_poll, and SO_PEERCRED.
//
// Loading is lazy and never throws: `loadNative()` returns null (with the reason in `nativeLoadError()`)
// when the addon was not built, so pure-JS users (in-memory fakes, node:dgram) keep working.
// The path is resolved from this file (net/ → ../build/Release), so this file must stay one folder
// below the repository root.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** An opaque native handle (a reader or a send queue). */
export type NativeHandle = { readonly __native: unique symbol };

export interface NativeAddon {
  /**
   * Opens /dev/net/tun as IFF_TUN|IFF_NO_PI, nonblocking. `name` may be '' or a pattern like 'gw%d'.
   * `offloads` (TUN_F_* mask, default 0): non-zero adds IFF_VNET_HDR and keeps the richest subset the
   * kernel accepts (reported back); none accepted → a plain TUN (vnetHdr false).
   */
  tunOpen(name: string, offloads?: number): { fd: number; name: string; vnetHdr: boolean; offloads: number };
  fdClose(fd: number): void;
  /** One packet; returns bytes written or -errno (e.g. -11 EAGAIN: dropped). vnetHdr: prefix a zero virtio-net header. */
  tunWrite(fd: number, buf: Uint8Array, off: number, len: number, vnetHdr?: boolean): number;

  linkSet(name: string, up: boolean, mtu: number): void;
  addrAdd(name: string, addr: string, prefixLen: number): void;
  addrDel(name: string, addr: string, prefixLen: number): void;
  routeAdd(name: string, dst: string, prefixLen: number): void;
  routeDel(name: string, dst: string, prefixLen: number): void;
  ifIndex(name: string): number;

  udpOpen(port: number, rcvbuf: number, sndbuf: number): { fd: number; port: number; family: 4 | 6 };
  /** threaded: sendmmsg runs on a sender thread (up to 4 batches in flight); else on the caller's thread. */
  udpSenderCreate(fd: number, family: 4 | 6, slots: number, slotSize: number, gso: boolean, threaded?: boolean): NativeHandle;
  /** Sends what is queued and stops the sender thread; idempotent. Call before closing the fd. */
  udpSenderClose(sender: NativeHandle): void;
  /** Copies one datagram into the send queue; returns the queue length (-1: oversized, dropped). */
  udpQueue(sender: NativeHandle, buf: Uint8Array, off: number, len: number, addr16: Uint8Array, port: number): number;
  /** sendmmsg everything queued; 0 or -errno of the first hard failure. */
  udpFlush(sender: NativeHandle): number;
  udpSenderStats(sender: NativeHandle): { sent: number; dropped: number; syscalls: number; gso: boolean };
  udpSendTo(fd: number, family: 4 | 6, buf: Uint8Array, off: number, len: number, addr16: Uint8Array, port: number): number;

  readerCreate(
    kind: 0 | 1 | 2 | 3,
    fd: number,
    arena: Uint8Array,
    slotSize: number,
    lens: Uint32Array,
    addrs: Uint8Array | null,
    ports: Uint16Array | null,
    onBatch: (count: number) => void,
  ): NativeHandle;
  readerClose(reader: NativeHandle): void;
  /**
   * supers: reads that carried a TSO/USO super-segment (TUN) or a GRO run of datagrams (UDP), split into
   * `packets`; gro: 1 when a UDP reader has UDP_GRO on (it falls back to plain recvmmsg when refused).
   */
  readerStats(reader: NativeHandle): { batches: number; packets: number; errors: number; supers: number; gro: number };

  /**
   * A TUN writer thread fed through a ring of `slots` packets (see native/tun-writer.cc). On a vnet-header
   * fd, `gro` (1 TCP, 2 UDP, 3 both) merges runs of one flow into super-segments.
   */
  tunWriterCreate(fd: number, slots: number, slotSize: number, vnetHdr?: boolean, gro?: number): NativeHandle;
  /** Queues one packet for the writer thread; false when dropped (ring full, too big, closed). */
  tunWriterWrite(writer: NativeHandle, buf: Uint8Array, off: number, len: number): boolean;
  /** Wakes the writer thread for what was queued since the last kick (call once per batch). */
  tunWriterKick(writer: NativeHandle): void;
  tunWriterStats(writer: NativeHandle): { written: number; dropped: number; errors: number; queued: number; writes: number; merged: number; waits: number };
  /** Drains, stops and joins the writer thread; idempotent. */
  tunWriterClose(writer: NativeHandle): void;

  /** A ChaCha20-Poly1305 key (two reusable OpenSSL contexts); see native/aead.cc. */
  aeadKey(raw: Uint8Array): NativeHandle;
  /** Seals src[srcOff, +len) + zero padding up to paddedLen into out at outOff, tag appended; returns paddedLen + 16. */
  aeadSeal(key: NativeHandle, counterLo: number, counterHi: number, src: Uint8Array, srcOff: number, len: number, paddedLen: number, out: Uint8Array, outOff: number): number;
  /** Opens msg[ctOff, +ctLen) (ciphertext ‖ tag) into out at outOff; plaintext length or -1. */
  aeadOpen(key: NativeHandle, counterLo: number, counterHi: number, msg: Uint8Array, ctOff: number, ctLen: number, out: Uint8Array, outOff: number): number;
  /**
   * A batch of seals (open = false) or opens, split between the event loop and one worker thread
   * (mode 1), on the event loop only (0), or on the worker only (2, tests). Synchronous: returns when
   * every job is done, with the number the worker ran. desc: AEAD_DESC_STRIDE int32 per job (counter lo,
   * counter hi, src offset, length, padded length, out offset, result); see native/aead-batch.cc.
   */
  aeadBatch(open: boolean, mode: number, count: number, keys: NativeHandle[], srcs: Uint8Array[], outs: Uint8Array[], desc: Int32Array): number;

  /**
   * The TUN reader's split of one packet read with its virtio-net header (10 bytes) into MTU-sized
   * packets in arena slots, from segment firstSeg; count -1 = malformed. For tests (native/offload-napi.cc).
   */
  gsoSplit(pkt: Uint8Array, len: number, vnetHdr: Uint8Array, firstSeg: number, arena: Uint8Array, slotSize: number, lens: Uint32Array): { count: number; total: number };
  /**
   * The TUN writer's coalescing over `count` packets in arena slots: outputs (virtio-net header + packet)
   * back to back in `out`, lengths in outLens; returns the output count (-1: out too small). For tests.
   */
  groCoalesce(arena: Uint8Array, slotSize: number, lens: Uint32Array, count: number, mode: number, out: Uint8Array, outLens: Uint32Array): number;

  /** SO_PEERCRED of a connected unix socket fd; throws when unavailable. */
  peerCred(fd: number): { uid: number; gid: number; pid: number };
}

export const READER_TUN = 0;
export const READER_UDP = 1;
/** A TUN opened with IFF_VNET_HDR: reads carry a virtio-net header; super-segments are split natively. */
export const READER_TUN_VNET = 2;
/** A UDP socket with UDP_GRO: coalesced runs of datagrams are cut back into one datagram per slot. */
export const READER_UDP_GRO = 3;

/** TUNSETOFFLOAD feature bits (linux/if_tun.h). */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_USO4 = 0x20;
export const TUN_F_USO6 = 0x40;
/** Coalescing modes of the TUN writer (native/offload.h). */
export const GRO_TCP = 1;
export const GRO_UDP = 2;

let cached: NativeAddon | null | undefined;
let loadError: string | null = null;

/**
 * node-gyp builds into <package root>/build/Release. This file runs from the sources (<root>/<folder>/) and
 * from the build (<root>/dist/<folder>/), so the root is found by walking up to binding.gyp, which both a
 * checkout and an installed package have, rather than by a fixed number of `..`.
 */
function addonPath(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  let dir = here;
  while (!existsSync(path.join(dir, 'binding.gyp'))) {
    const up = path.dirname(dir);
    if (up === dir) {
      dir = path.resolve(here, '..');
      break;
    }
    dir = up;
  }
  return path.join(dir, 'build', 'Release', 'grantwire_native.node');
}

/** The addon, or null when it is not built or fails to load (see nativeLoadError()). */
export function loadNative(): NativeAddon | null {
  if (cached !== undefined) return cached;
  const file = addonPath();
  if (!existsSync(file)) {
    loadError = `native addon not built (${file} missing; run \`npm run install\`)`;
    cached = null;
    return cached;
  }
  try {
    const require = createRequire(import.meta.url);
    cached = require(file) as NativeAddon;
  } catch (err) {
    loadError = `native addon failed to load: ${(err as Error).message}`;
    cached = null;
  }
  return cached;
}

/** Why loadNative() returned null; null when it loaded. */
export function nativeLoadError(): string | null {
  loadNative();
  return loadError;
}

/** The addon or a clear error (for callers that cannot work without it, like the TUN device). */
export function requireNative(): NativeAddon {
  const addon = loadNative();
  if (addon === null) throw new Error(loadError ?? 'native addon unavailable');
  return addon;
}
