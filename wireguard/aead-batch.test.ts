// The batched native AEAD (both cores) against the per-packet one: for the same jobs, the event-loop
// only (mode 0), split (1) and worker-only (2) batches give byte-identical messages and plaintexts, job
// i's result is job i's whatever thread ran it, and failures land on exactly the tampered jobs.
import { describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { AeadBatch, aeadThreadsMode, type AeadBatchMode } from './aead-batch.js';
import { NativeTransportCrypto } from './native-aead.js';
import { TransportCrypto, importAeadKey, paddedLength } from './transport.js';
import { loadNative } from '../net/native-addon.js';

const native = NativeTransportCrypto.create();
const probe = AeadBatch.create(1, 0);
if (probe === null) console.warn('aead-batch.test: skipped (native addon not built)');

const MODES: AeadBatchMode[] = [0, 1, 2];

/** Deterministic job list: several keys (peers) interleaved, counters across the 2^32 boundary, lengths 0..1420. */
function jobs(seed: number, count: number) {
  const keys = [0, 1, 2].map((k) => createHash('sha256').update(`key ${seed} ${k}`).digest());
  return Array.from({ length: count }, (_, i) => {
    const peer = (i * 7 + seed) % keys.length;
    const len = i % 9 === 0 ? 0 : (i * 131 + seed * 17) % 1421;
    const counter = i % 5 === 0 ? 2 ** 40 + i : i % 3 === 0 ? 4294967295 + i : seed * 1000 + i;
    return { peer, raw: keys[peer], receiver: 0x01020304 + peer, counter, src: randomBytes(len + 5), len, padded: paddedLength(len, 1420) };
  });
}

describe.skipIf(probe === null)('AeadBatch', () => {
  const n = native!;

  it.each([
    { name: 'one job', count: 1 },
    { name: 'two jobs', count: 2 },
    { name: 'a datagram batch', count: 64 },
    { name: 'a full batch', count: 512 },
  ])('$name: seals equal per-packet native and node:crypto, opens give the plaintexts back, in every mode', ({ count }) => {
    const list = jobs(count, count);
    const ref = new TransportCrypto();
    const refMsgs = list.map((j) => {
      const out = new Uint8Array(1500);
      const m = ref.seal(importAeadKey(j.raw), j.receiver, j.counter, j.src, 5, j.len, j.padded, out);
      const nout = new Uint8Array(1500);
      const m2 = n.seal(n.importKey(j.raw), j.receiver, j.counter, j.src, 5, j.len, j.padded, nout);
      expect(Buffer.from(nout.subarray(0, m2)).equals(Buffer.from(out.subarray(0, m)))).toBe(true);
      return out.subarray(0, m);
    });
    for (const mode of MODES) {
      const b = AeadBatch.create(count, mode)!;
      const keys = [0, 1, 2].map((p) => n.importKey(list.find((j) => j.peer === p)?.raw ?? randomBytes(32)));
      const outs = list.map(() => new Uint8Array(1500));
      const idx = list.map((j, i) => b.addSeal(keys[j.peer], j.receiver, j.counter, j.src, 5, j.len, j.padded, outs[i]));
      b.run();
      list.forEach((_, i) => {
        expect(idx[i]).toBe(i);
        expect(b.result(i)).toBe(refMsgs[i].length);
        expect(Buffer.from(outs[i].subarray(0, b.result(i))).equals(Buffer.from(refMsgs[i]))).toBe(true);
      });
      if (mode === 2) expect(b.workerJobs).toBe(count > 1 ? count : 0);
      if (mode === 0) expect(b.workerJobs).toBe(0);
      // Open them back in place (plaintext at 16), as the device does.
      b.clear();
      list.forEach((_, i) => b.addOpen(keys[list[i].peer], outs[i], refMsgs[i].length, outs[i], 16));
      b.run();
      list.forEach((j, i) => {
        expect(b.result(i)).toBe(j.padded);
        expect(Buffer.from(outs[i].subarray(16, 16 + j.len)).equals(j.src.subarray(5))).toBe(true);
        expect(outs[i].subarray(16 + j.len, 16 + j.padded).every((x) => x === 0)).toBe(true);
      });
    }
  });

  it.each(MODES)('mode %i: tampered, short, wrong-key and wrong-counter messages fail alone, the rest open to separate buffers', (mode) => {
    const count = 96;
    const list = jobs(7, count);
    const keys = [0, 1, 2].map((p) => n.importKey(list.find((j) => j.peer === p)!.raw));
    const msgs = list.map((j) => {
      const out = new Uint8Array(1500);
      return out.subarray(0, n.seal(keys[j.peer], j.receiver, j.counter, j.src, 5, j.len, j.padded, out));
    });
    const bad = new Map<number, string>();
    msgs.forEach((m, i) => {
      if (i % 11 === 3) { m[16 + ((i * 13) % (m.length - 16))] ^= 1 << (i % 8); bad.set(i, 'bit'); }
      else if (i % 11 === 6) { m[8] ^= 1; bad.set(i, 'counter'); }
      else if (i % 11 === 9) bad.set(i, 'key');
    });
    const lens = msgs.map((m, i) => (i % 23 === 5 ? 20 : i % 23 === 17 ? 31 : m.length));
    lens.forEach((l, i) => { if (l < 32) bad.set(i, 'short'); });
    const other = n.importKey(randomBytes(32));
    const b = AeadBatch.create(count, mode)!;
    const plains = list.map(() => new Uint8Array(1500).fill(0xee));
    list.forEach((j, i) => b.addOpen(bad.get(i) === 'key' ? other : keys[j.peer], msgs[i], lens[i], plains[i], 3));
    b.run();
    expect(bad.size).toBeGreaterThan(10);
    list.forEach((j, i) => {
      if (bad.has(i)) {
        expect(b.result(i), `job ${i} (${bad.get(i)})`).toBe(-1);
        // No unauthenticated plaintext is left behind.
        if (lens[i] >= 32) expect(plains[i].subarray(3, 3 + lens[i] - 32).every((x) => x === 0)).toBe(true);
      } else {
        expect(b.result(i), `job ${i}`).toBe(j.padded);
        expect(Buffer.from(plains[i].subarray(3, 3 + j.len)).equals(j.src.subarray(5))).toBe(true);
      }
    });
  });

  it('refuses mixed batches, a capacity out of range and jobs outside their buffers (nothing runs)', () => {
    const k = n.importKey(randomBytes(32));
    const b = AeadBatch.create(4, 1)!;
    b.addSeal(k, 1, 1, new Uint8Array(10), 0, 10, 16, new Uint8Array(64));
    expect(() => b.addOpen(k, new Uint8Array(64), 64, new Uint8Array(64), 0)).toThrow(/mix/);
    expect(() => AeadBatch.create(0)).toThrow(RangeError);
    expect(() => AeadBatch.create(5000)).toThrow(RangeError);
    const addon = loadNative()!;
    const desc = new Int32Array(16);
    const small = new Uint8Array(20);
    // seal: out too small for padded + tag
    desc.set([1, 0, 0, 10, 16, 0, 7]);
    desc.set([1, 0, 0, 10, 16, 0, 7], 8);
    expect(() => addon.aeadBatch(false, 1, 2, [k, k], [small, small], [new Uint8Array(64), small], desc)).toThrow(/outside/);
    expect(desc[6]).toBe(7);
    expect(() => addon.aeadBatch(true, 1, 1, [k], [small], [small], new Int32Array([0, 0, 15, 10, 0, 0, 0, 0]))).toThrow(/outside/);
    expect(() => addon.aeadBatch(true, 3, 1, [k], [small], [small], desc)).toThrow(/bad arguments/);
    expect(() => addon.aeadBatch(true, 1, 3, [k], [small], [small], desc)).toThrow(/bad arguments/);
    expect(() => addon.aeadBatch(true, 1, 1, [{} as never], [small], [small], desc)).toThrow(/handle/);
  });

  it('reads GRANTWIRE_AEAD_THREADS', () => {
    expect(aeadThreadsMode({ GRANTWIRE_AEAD_THREADS: '0' })).toBe(0);
    expect(aeadThreadsMode({ GRANTWIRE_AEAD_THREADS: '1' })).toBe(1);
    expect(aeadThreadsMode({})).toBe(0);
  });
});
