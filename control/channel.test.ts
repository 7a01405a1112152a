import { createServer, connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { generatePrivateKey, publicKeyFromPrivate } from '../crypto/key.js';
import { acceptChannel, FrameReader, frame, MAX_FRAME_BODY, openChannel, type NoiseChannel } from './channel.js';

const serverPriv = generatePrivateKey();
const serverPub = publicKeyFromPrivate(serverPriv);

interface Pair {
  server: NoiseChannel;
  client: NoiseChannel;
  clientSock: Socket;
  /** Frames the client wrote after the handshake (captured, also sent unless `hold`). */
  sent: Buffer[];
  rawWrite: (b: Buffer) => void;
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function pair(opts: { hold?: boolean; clientServerKey?: Uint8Array } = {}): Promise<Pair> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  cleanups.push(() => srv.close());
  const serverP = new Promise<NoiseChannel>((resolve, reject) => {
    srv.once('connection', (s) => acceptChannel(s, Buffer.alloc(0), serverPriv, 2000).then(resolve, reject));
  });
  const port = (srv.address() as { port: number }).port;
  const clientSock = connect(port, '127.0.0.1');
  await new Promise<void>((r) => clientSock.once('connect', () => r()));
  cleanups.push(() => clientSock.destroy());
  const machine = generatePrivateKey();
  const clientP = openChannel(clientSock, Buffer.alloc(0), machine, opts.clientServerKey ?? serverPub, 2000);
  const [server, client] = await Promise.all([serverP, clientP]);
  const sent: Buffer[] = [];
  const rawWrite = clientSock.write.bind(clientSock) as (b: Buffer) => void;
  const reader = new FrameReader();
  (clientSock as unknown as { write: (b: Buffer) => boolean }).write = (b: Buffer) => {
    for (const f of reader.push(Buffer.from(b)) ?? []) sent.push(Buffer.from(f));
    if (!opts.hold) rawWrite(b);
    return true;
  };
  return { server, client, clientSock, sent, rawWrite };
}

function collect(ch: NoiseChannel): { msgs: string[]; closed: Promise<string> } {
  const msgs: string[] = [];
  ch.onMessage((t) => msgs.push(t));
  const closed = new Promise<string>((r) => ch.onClose(r));
  return { msgs, closed };
}

const tick = (ms = 50) => new Promise((r) => setTimeout(r, ms));

describe('Noise channel', () => {
  it('carries small and multi-megabyte messages both ways, in order', async () => {
    const p = await pair();
    const s = collect(p.server);
    const c = collect(p.client);
    const big = 'x'.repeat(3 * 1024 * 1024 + 17);
    p.client.send('hello');
    p.client.send(big);
    p.client.send('');
    p.server.send('{"type":"keepalive"}');
    p.server.send(big + 'y');
    const start = Date.now();
    while ((s.msgs.length < 3 || c.msgs.length < 2) && Date.now() - start < 5000) await tick(10);
    expect(s.msgs.map((m) => m.length)).toEqual([5, big.length, 0]);
    expect(s.msgs[1]).toBe(big);
    expect(c.msgs[0]).toBe('{"type":"keepalive"}');
    expect(c.msgs[1].length).toBe(big.length + 1);
  });

  it('both sides agree on the handshake hash; control learns the machine key', async () => {
    const p = await pair();
    expect(Buffer.from(p.server.handshakeHash).equals(Buffer.from(p.client.handshakeHash))).toBe(true);
    expect(p.server.remoteStatic.length).toBe(32);
  });

  it('fails the handshake when the agent expects a different control key', async () => {
    await expect(pair({ clientServerKey: publicKeyFromPrivate(generatePrivateKey()) })).rejects.toThrow();
  });

  it('rejects a tampered frame: nothing delivered, channel closed', async () => {
    const p = await pair({ hold: true });
    const s = collect(p.server);
    p.client.send('{"type":"map"}');
    expect(p.sent.length).toBe(1);
    const bad = Buffer.from(p.sent[0]);
    bad[5] ^= 0x01;
    p.rawWrite(frame(bad));
    const reason = await s.closed;
    expect(reason).toMatch(/authentication/);
    expect(s.msgs).toEqual([]);
  });

  it('rejects a replayed frame after delivering the original once', async () => {
    const p = await pair({ hold: true });
    const s = collect(p.server);
    p.client.send('{"n":1}');
    p.rawWrite(frame(p.sent[0]));
    await tick();
    expect(s.msgs).toEqual(['{"n":1}']);
    p.rawWrite(frame(p.sent[0]));
    expect(await s.closed).toMatch(/authentication/);
    expect(s.msgs).toEqual(['{"n":1}']);
  });

  it('rejects reordered frames', async () => {
    const p = await pair({ hold: true });
    const s = collect(p.server);
    p.client.send('a');
    p.client.send('b');
    p.rawWrite(frame(p.sent[1]));
    expect(await s.closed).toMatch(/authentication/);
    expect(s.msgs).toEqual([]);
  });

  it('closes on an oversized frame length', async () => {
    const p = await pair({ hold: true });
    const s = collect(p.server);
    const hdr = Buffer.alloc(4);
    hdr.writeUInt32BE(MAX_FRAME_BODY + 1);
    p.rawWrite(hdr);
    expect(await s.closed).toMatch(/oversized/);
  });
});

describe('FrameReader', () => {
  it('reassembles frames from any split of the stream', () => {
    const bodies = Array.from({ length: 50 }, (_, i) => Buffer.alloc(i * 37 % 300, i));
    const stream = Buffer.concat(bodies.map((b) => frame(b)));
    for (let trial = 0; trial < 200; trial++) {
      const r = new FrameReader();
      const got: Buffer[] = [];
      let off = 0;
      while (off < stream.length) {
        const n = 1 + Math.floor(Math.random() * 64);
        got.push(...(r.push(stream.subarray(off, off + n)) ?? []));
        off += n;
      }
      expect(got.map((b) => b.toString('hex'))).toEqual(bodies.map((b) => b.toString('hex')));
    }
  });

  it('never throws on random bytes', () => {
    for (let i = 0; i < 2000; i++) {
      const r = new FrameReader();
      const b = Buffer.from(Array.from({ length: Math.floor(Math.random() * 40) }, () => Math.floor(Math.random() * 256)));
      expect(() => r.push(b)).not.toThrow();
    }
  });
});
