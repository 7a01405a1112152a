// Differential: a receiving Device whose transport messages are decrypted as one batch on both cores
// (aeadThreads 1), on the worker thread only (2), on the event loop as a batch (0), and one packet at a
// time with node:crypto ('node'); the senders seal their packet batches the same ways, and every
// peer's counters must go up in wire order (seals sent in the order the counters were assigned). Two peers' datagrams arrive interleaved in the same batches, with
// replays, tampered and truncated messages and junk mixed in. Every receiver must deliver the same
// packets in the same order, call the inbound filter on the same packets in the same order (dropping
// some), and count the same drops: which thread decrypted a message cannot be observed.
import { afterEach, describe, expect, it } from 'vitest';
import { Device } from './device.js';
import { AeadBatch, type AeadBatchMode } from './aead-batch.js';
import { FakePacketDevice } from '../net/fake-packet-device.js';
import { buildFillerPacket } from '../packet/build.js';
import type { DatagramBatch, UdpBind } from '../net/io.js';
import type { PacketHook } from './packet-hook.js';
import { generatePrivateKey, publicKeyFromPrivate } from '../crypto/key.js';
import { toAddr16 } from '../net/endpoint.js';

/** One batch on the wire shared by several senders; `mutate` may rewrite it before delivery. */
class Wire {
  readonly batch: DatagramBatch;
  constructor(slots = 512) {
    this.batch = {
      count: 0,
      bufs: Array.from({ length: slots }, () => new Uint8Array(2048)),
      lens: new Uint32Array(slots),
      addrs: new Uint8Array(16 * slots),
      ports: new Uint16Array(slots),
    };
  }
  /** Counters of transport messages in wire order, by receiver index: must only go up. */
  readonly counters = new Map<number, number[]>();
  push(buf: Uint8Array, off: number, len: number, addr16: Uint8Array, port: number): void {
    const b = this.batch;
    if (buf[off] === 4) {
      const dv = new DataView(buf.buffer, buf.byteOffset + off, len);
      const idx = dv.getUint32(4, true);
      const list = this.counters.get(idx) ?? [];
      list.push(Number(dv.getBigUint64(8, true)));
      this.counters.set(idx, list);
    }
    if (b.count === b.bufs.length) throw new Error('wire full');
    b.bufs[b.count].set(buf.subarray(off, off + len));
    b.lens[b.count] = len;
    b.addrs.set(addr16, 16 * b.count);
    b.ports[b.count] = port;
    b.count++;
  }
  flush(to: SinkBind, mutate?: (b: DatagramBatch) => void): void {
    if (this.batch.count === 0) return;
    mutate?.(this.batch);
    to.handler?.(this.batch);
    this.batch.count = 0;
  }
}

class SinkBind implements UdpBind {
  handler: ((b: DatagramBatch) => void) | null = null;
  constructor(
    readonly wire: Wire,
    readonly addr16: Uint8Array,
    readonly port: number,
  ) {}
  start(on: (b: DatagramBatch) => void): void {
    this.handler = on;
  }
  send(buf: Uint8Array, off: number, len: number): void {
    this.wire.push(buf, off, len, this.addr16, this.port);
  }
  async close(): Promise<void> {}
}

const devices: Device[] = [];
afterEach(async () => {
  await Promise.all(devices.splice(0).map((d) => d.close()));
});

interface Outcome {
  delivered: string[];
  filtered: string[];
  counters: Record<string, number>;
}

/** Rewrites a batch of transport messages: replays, bit flips, truncation, junk (deterministic by round). */
function mangle(round: number) {
  return (b: DatagramBatch): void => {
    const n = b.count;
    for (let i = 0; i < n && b.count < b.bufs.length; i++) {
      const k = (round * 31 + i) % 17;
      if (k === 3) b.bufs[i][16 + (i % (b.lens[i] - 16))] ^= 0x40; // tampered ciphertext or tag
      else if (k === 5) b.lens[i] = 24; // truncated below header + tag
      else if (k === 7 || k === 11) {
        // a replay of datagram i later in the same batch
        const j = b.count++;
        b.bufs[j].set(b.bufs[i].subarray(0, b.lens[i]));
        b.lens[j] = b.lens[i];
        b.addrs.copyWithin(16 * j, 16 * i, 16 * i + 16);
        b.ports[j] = b.ports[i];
      } else if (k === 13) b.bufs[i][0] = 9; // not a WireGuard message
    }
  };
}

async function run(transport: 'node' | 'auto', aeadThreads: AeadBatchMode, senderThreads: AeadBatchMode = 0): Promise<Outcome> {
  const wireToB = new Wire();
  const wireToA = new Wire();
  const kb = generatePrivateKey();
  const addrB = toAddr16(Uint8Array.of(192, 0, 2, 2));
  const bindB = new SinkBind(wireToA, addrB, 51821);
  const tunB = new FakePacketDevice('b', 1420);
  const filtered: string[] = [];
  const hook: PacketHook = {
    outbound: () => true,
    inbound: (buf, off, len, peerKey) => {
      const tag = `${peerKey[0]}:${Buffer.from(buf.subarray(off + len - 4, off + len)).toString('hex')}`;
      filtered.push(tag);
      return buf[off + len - 1] % 5 !== 0; // the filter drops one packet in five
    },
  };
  const b = new Device({ privateKey: kb, tun: tunB, bind: bindB, transport, aeadThreads, hook });
  devices.push(b);
  const senders = [1, 3].map((host) => {
    const k = generatePrivateKey();
    const addr = toAddr16(Uint8Array.of(192, 0, 2, host));
    const bind = new SinkBind(wireToB, addr, 51820 + host);
    const tun = new FakePacketDevice(`a${host}`, 1420);
    const d = new Device({ privateKey: k, tun, bind, aeadThreads: senderThreads });
    devices.push(d);
    d.upsertPeer({ publicKey: publicKeyFromPrivate(kb), endpoint: { addr16: addrB, port: 51821 }, allowedIPs: ['10.0.0.2/32'] });
    b.upsertPeer({ publicKey: publicKeyFromPrivate(k), endpoint: { addr16: addr, port: 51820 + host }, allowedIPs: [`10.0.0.${host}/32`] });
    d.start();
    return { host, d, tun, bind, key: publicKeyFromPrivate(k) };
  });
  b.start();
  const pump = async (): Promise<void> => {
    for (let i = 0; i < 6; i++) {
      wireToB.flush(bindB);
      // B answers both senders through one wire: deliver each datagram to every sender (the wrong one drops it).
      if (wireToA.batch.count > 0) {
        for (const s of senders) s.bind.handler?.(wireToA.batch);
        wireToA.batch.count = 0;
      }
      await new Promise<void>((r) => setImmediate(r));
    }
  };
  // Handshakes first.
  for (const s of senders) s.tun.inject(buildFillerPacket(`10.0.0.${s.host}`, '10.0.0.2', 100, 0));
  await pump();
  // Rounds of interleaved traffic: packet payloads end with (sender, round, index) so they can be told apart.
  for (let round = 0; round < 40; round++) {
    const out = senders.map(() => [] as Uint8Array[]);
    for (let i = 0; i < 24; i++) {
      const si = (i * 5 + round) % 2;
      const s = senders[si];
      const len = (round * 97 + i * 61) % 1300;
      const pkt = buildFillerPacket(`10.0.0.${s.host}`, '10.0.0.2', len + 4, i);
      pkt[pkt.length - 4] = s.host;
      pkt[pkt.length - 3] = round;
      pkt[pkt.length - 2] = i;
      pkt[pkt.length - 1] = (round + i) & 0xff;
      out[si].push(pkt);
    }
    // Each sender reads its packets as one batch (so its seals are batched), split in two by round.
    senders.forEach((s, si) => {
      const cut = round % 3 === 0 ? out[si].length : 1 + (round % Math.max(1, out[si].length - 1));
      s.tun.inject(...out[si].slice(0, cut));
      if (cut < out[si].length) s.tun.inject(...out[si].slice(cut));
    });
    wireToB.flush(bindB, mangle(round));
  }
  await pump();
  for (const [idx, list] of wireToB.counters) {
    for (let i = 1; i < list.length; i++) if (list[i] <= list[i - 1]) throw new Error(`receiver ${idx}: counter ${list[i]} after ${list[i - 1]} on the wire`);
  }
  const tag = (p: Uint8Array): string => Buffer.from(p.subarray(p.length - 4)).toString('hex');
  const keyByte = new Map(senders.map((s) => [s.host, s.key[0]]));
  const counters = b.counters();
  // Timer-driven packets (keepalives, handshakes) are not part of the comparison.
  for (const k of Object.keys(counters)) if (k.startsWith('tx_') || k.includes('handshake') || k.includes('keepalive')) delete counters[k];
  return {
    delivered: tunB.received.slice(1 + 1).map(tag),
    filtered: filtered.map((f) => f.replace(/^\d+/, (x) => String([...keyByte].find(([, v]) => String(v) === x)?.[0]))),
    counters,
  };
}

describe.skipIf(AeadBatch.create(1, 0) === null)('Device with the AEAD on both cores', () => {
  it('seals in counter order and delivers, filters and counts exactly like the per-packet path, whichever thread runs the AEAD', async () => {
    const ref = await run('node', 0);
    expect(ref.delivered.length).toBeGreaterThan(500);
    expect(ref.filtered.length).toBeGreaterThan(ref.delivered.length); // the filter dropped some
    expect(ref.counters.drop_replay).toBeGreaterThan(50);
    expect(ref.counters.drop_decrypt_failed).toBeGreaterThan(30);
    for (const [mode, senderMode] of [[0, 0], [1, 1], [2, 2], [1, 0], [0, 1]] as AeadBatchMode[][]) {
      const got = await run('auto', mode, senderMode);
      expect(got.delivered, `modes ${mode}/${senderMode}`).toEqual(ref.delivered);
      expect(got.filtered, `modes ${mode}/${senderMode}`).toEqual(ref.filtered);
      expect(got.counters, `modes ${mode}/${senderMode}`).toEqual(ref.counters);
    }
  });
});
