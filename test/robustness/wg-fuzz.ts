// Hostile WireGuard datagrams for a device's UDP port: random bytes; every message type with its exact
// size and random content; the right type with a wrong size or non-zero reserved bytes; mutated,
// truncated and extended copies of real handshake and transport messages captured from a real peer
// exchange (recording-bind.ts); exact replays of them; transport messages that name a live receiver
// index with a random counter and ciphertext; the largest datagrams UDP carries. Each comes with a label.
import { writeU32LE } from '../../wireguard/bytes.js';
import {
  MESSAGE_COOKIE_REPLY_SIZE,
  MESSAGE_COOKIE_REPLY_TYPE,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_INITIATION_TYPE,
  MESSAGE_RESPONSE_SIZE,
  MESSAGE_RESPONSE_TYPE,
  MESSAGE_TRANSPORT_MIN_SIZE,
  MESSAGE_TRANSPORT_TYPE,
} from '../../wireguard/constants.js';
import type { Fuzz } from './fuzz-rng.js';
import type { Captured } from './recording-bind.js';

/** Largest UDP payload over IPv4. */
const MAX_UDP_PAYLOAD = 65_507;

const EXACT_SIZE: Record<number, number> = {
  [MESSAGE_INITIATION_TYPE]: MESSAGE_INITIATION_SIZE,
  [MESSAGE_RESPONSE_TYPE]: MESSAGE_RESPONSE_SIZE,
  [MESSAGE_COOKIE_REPLY_TYPE]: MESSAGE_COOKIE_REPLY_SIZE,
};

function typed(f: Fuzz, type: number, size: number): Uint8Array {
  const b = f.bytes(size);
  if (size >= 4) writeU32LE(b, 0, type);
  return b;
}

function sizeOf(f: Fuzz, type: number): number {
  return EXACT_SIZE[type] ?? MESSAGE_TRANSPORT_MIN_SIZE + f.size(1500);
}

export function wgDatagram(f: Fuzz, captured: Captured): { label: string; bytes: Uint8Array } {
  const real = [...captured.values()].flat();
  const type = f.range(MESSAGE_INITIATION_TYPE, MESSAGE_TRANSPORT_TYPE);
  switch (f.int(9)) {
    case 0:
      return { label: 'random bytes', bytes: f.bytes(f.size(1500)) };
    case 1:
      return { label: `type ${type}, exact size, random content`, bytes: typed(f, type, sizeOf(f, type)) };
    case 2: {
      const n = Math.max(0, sizeOf(f, type) + f.pick([-1, 1, -4, 16, -(sizeOf(f, type) - 4)]));
      return { label: `type ${type}, wrong size`, bytes: typed(f, type, n) };
    }
    case 3: {
      const b = typed(f, type, sizeOf(f, type));
      b[1 + f.int(3)] = 1 + f.int(255);
      return { label: `type ${type}, reserved bytes set`, bytes: b };
    }
    case 4:
    case 5:
      if (real.length === 0) return { label: 'random bytes', bytes: f.bytes(f.size(200)) };
      return { label: 'mutated real message', bytes: f.mutate(f.pick(real)) };
    case 6: {
      const list = captured.get(f.pick([MESSAGE_TRANSPORT_TYPE, MESSAGE_TRANSPORT_TYPE, MESSAGE_INITIATION_TYPE, MESSAGE_RESPONSE_TYPE])) ?? [];
      if (list.length === 0) return { label: 'random bytes', bytes: f.bytes(f.size(200)) };
      return { label: 'replayed real message', bytes: Uint8Array.from(f.pick(list)) };
    }
    case 7: {
      // A live receiver index: gets past the index lookup to the AEAD (decrypt_failed) or replay check.
      const list = captured.get(MESSAGE_TRANSPORT_TYPE) ?? [];
      const b = typed(f, MESSAGE_TRANSPORT_TYPE, MESSAGE_TRANSPORT_MIN_SIZE + f.size(1400));
      if (list.length > 0) b.set(f.pick(list).subarray(4, 8), 4);
      return { label: 'transport with a live index, random ciphertext', bytes: b };
    }
    default:
      return { label: 'oversized datagram', bytes: typed(f, f.chance(0.5) ? MESSAGE_TRANSPORT_TYPE : type, f.range(9000, MAX_UDP_PAYLOAD)) };
  }
}

/**
 * A mutated IP packet for the peer to send through a real session: the agent decrypts it and its IP
 * length check, cryptokey source check and filter parser see the garbage. The version nibble and the
 * destination are restored after mutating, so the peer's cryptokey routing still sends it to the agent.
 */
export function tunnelPacket(f: Fuzz, seeds: readonly Uint8Array[]): Uint8Array {
  const s = f.pick(seeds);
  const v6 = s[0] >> 4 === 6;
  const dstOff = v6 ? 24 : 16;
  const dstEnd = dstOff + (v6 ? 16 : 4);
  let m = f.mutate(s);
  if (m.length < dstEnd) {
    const t = new Uint8Array(dstEnd);
    t.set(m);
    m = t;
  }
  if (m.length > 1400) m = m.slice(0, 1400);
  m[0] = (m[0] & 0x0f) | (v6 ? 0x60 : 0x40);
  m.set(s.subarray(dstOff, dstEnd), dstOff);
  return m;
}
