// The native TUN writer's ring under a writer slower than its producer, with a FIFO standing in for the
// TUN fd (the writer only writev()s to it): a full ring makes the producer wait for room instead of
// dropping, every packet arrives in order; a writer that makes no progress (nobody reads the FIFO) costs
// one bounded wait, then writes drop at once. Needs the addon, not root.
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadNative, nativeLoadError } from './native-addon.js';

const addon = loadNative();
if (addon === null) console.warn(`tun-writer.test: skipped (${nativeLoadError()})`);

const PKT = 1000;

/** Packet i: its index in the first 4 bytes, then a byte pattern of i. */
function packet(i: number): Uint8Array {
  const p = new Uint8Array(PKT).fill(i & 0xff);
  new DataView(p.buffer).setUint32(0, i);
  return p;
}

describe.skipIf(addon === null)('native TUN writer backpressure', () => {
  let dir = '';
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = '';
  });

  function fifo(): { file: string; fd: number } {
    dir = mkdtempSync(path.join(os.tmpdir(), 'gw-tunwriter-'));
    const file = path.join(dir, 'fifo');
    execFileSync('mkfifo', [file]);
    // O_RDWR: opening does not wait for a reader, and this process can drain the FIFO itself.
    return { file, fd: openSync(file, 'r+') };
  }

  const cases = [
    { name: 'a 4-slot ring, 2000 packets', slots: 4, count: 2000 },
    { name: 'a 64-slot ring, 5000 packets', slots: 64, count: 5000 },
  ];
  for (const c of cases) {
    it(`waits for room instead of dropping: ${c.name}`, async () => {
      const { file, fd } = fifo();
      const out = path.join(dir, 'out');
      // The reader: exactly the bytes expected, then it exits.
      const reader = spawn('sh', ['-c', `head -c ${c.count * PKT} "${file}" > "${out}"`], { stdio: 'ignore' });
      const w = addon!.tunWriterCreate(fd, c.slots, 2048);
      try {
        let queued = 0;
        for (let i = 0; i < c.count; i++) if (addon!.tunWriterWrite(w, packet(i), 0, PKT)) queued++;
        addon!.tunWriterKick(w);
        // A dropped packet would leave the reader waiting for bytes that never come: give up after 30 s.
        const timer = setTimeout(() => reader.kill(), 30_000);
        await new Promise<void>((resolve) => reader.once('exit', () => resolve()));
        clearTimeout(timer);
        const s = addon!.tunWriterStats(w);
        expect({ queued, dropped: s.dropped }).toEqual({ queued: c.count, dropped: 0 });
        expect(s.waits).toBeGreaterThan(0);
        const got = readFileSync(out);
        expect(got.length).toBe(c.count * PKT);
        for (let i = 0; i < c.count; i++) expect(got.readUInt32BE(i * PKT)).toBe(i);
      } finally {
        addon!.tunWriterClose(w);
        closeSync(fd);
      }
    }, 60_000);
  }

  it('a writer that makes no progress costs one bounded wait, then writes drop', () => {
    const { fd } = fifo();
    // Nobody reads: the writer fills the FIFO (64 KiB) and blocks in writev; the 8-slot ring fills behind it.
    const w = addon!.tunWriterCreate(fd, 8, 2048);
    let closed = false;
    try {
      let queued = 0;
      const n = 1000;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) if (addon!.tunWriterWrite(w, packet(i), 0, PKT)) queued++;
      const ms = performance.now() - t0;
      const s = addon!.tunWriterStats(w);
      expect(s.dropped).toBe(n - queued);
      expect(s.dropped).toBeGreaterThan(n / 2);
      // Stalled after the first timed-out wait (100 ms): the other ~900 full-ring writes did not wait
      // again, which would have taken 90 s. A liveness bound, not a speed assertion.
      expect(ms).toBeLessThan(20_000);
      // Drain the FIFO until the writer has written everything it queued, so close() can join it.
      const buf = Buffer.alloc(65536);
      const deadline = Date.now() + 30_000;
      while (addon!.tunWriterStats(w).queued > 0 && Date.now() < deadline) readSync(fd, buf, 0, buf.length, null);
      addon!.tunWriterClose(w);
      closed = true;
      expect(addon!.tunWriterStats(w).written).toBe(queued);
    } finally {
      if (!closed) addon!.tunWriterClose(w);
      closeSync(fd);
    }
  }, 60_000);
});
