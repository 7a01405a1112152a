// The relay handshake is mutual: a client connects only to a relay that proves the key it pinned, and
// sends nothing (not even its node key) to one that presents another key. A scripted fake relay plays
// the impostors: another key, the pinned key without the private half, a proof replayed from an earlier
// connection, a truncated or missing proof. Each is refused with a RelayAuthError (or a stream error),
// counted, retried later, and no packet is ever sent to it. The real relay refuses a client proof
// replayed on a new connection and a CLIENT_AUTH without the client nonce.
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultCrypto } from '../crypto/backend.js';
import { generatePrivateKey, NodePublic, publicKeyFromPrivate } from '../crypto/key.js';
import { RelayAuthError } from '../types/errors.js';
import { proveRelayClient, proveRelayServer } from './auth.js';
import { RELAY_PENDING_MAX, RelayClient } from './client.js';
import { encodeFrame, FrameReader, FrameType, RELAY_KEY_SIZE, RELAY_NONCE_SIZE, RELAY_PROOF_SIZE, type FrameTypeValue } from './frame.js';
import { RELAY_UPGRADE } from './server.js';
import { StandaloneRelay } from './standalone.js';
import { waitFor } from '../test/netns.js';

const crypto = defaultCrypto();
const relayPriv = generatePrivateKey();
const relayKey = crypto.importPrivateKey(relayPriv);
const relayPub = Uint8Array.from(relayKey.publicKey);
const nodePriv = generatePrivateKey();
const nodePub = publicKeyFromPrivate(nodePriv);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const until = (pred: () => boolean, ms = 5000): Promise<boolean> => waitFor(pred, ms, 20);

/** What a scripted relay answers: its challenge (key ‖ nonce) and, given the client's auth, its OK payload. */
interface Script {
  challengeKey: Uint8Array;
  ok: (clientNonce: Uint8Array, serverNonce: Uint8Array) => Uint8Array | null;
}

/** A fake relay speaking the wire format; records every frame the client sent. */
async function fakeRelay(script: Script): Promise<{ url: string; got: FrameTypeValue[] }> {
  const got: FrameTypeValue[] = [];
  const server: Server = createServer();
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('upgrade', (_req, socket: Socket) => {
    socket.on('error', () => {});
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${RELAY_UPGRADE}\r\nConnection: Upgrade\r\n\r\n`);
    const serverNonce = crypto.randomBytes(RELAY_NONCE_SIZE);
    const reader = new FrameReader((type, p) => {
      got.push(type);
      if (type !== FrameType.CLIENT_AUTH) return;
      const clientNonce = Uint8Array.from(p.subarray(RELAY_KEY_SIZE + RELAY_PROOF_SIZE));
      const ok = script.ok(clientNonce, serverNonce);
      if (ok === null) return;
      // Raw header so a truncated payload can be sent too (encodeFrame would frame any length).
      const h = Buffer.from([FrameType.SERVER_OK, 0, 0, 0, ok.length]);
      socket.write(Buffer.concat([h, ok]));
    });
    socket.on('data', (c: Buffer) => void reader.push(c));
    socket.write(encodeFrame(FrameType.SERVER_CHALLENGE, script.challengeKey, serverNonce));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, got };
}

function client(url: string, pinned: Uint8Array): { c: RelayClient; states: string[] } {
  const states: string[] = [];
  const c = new RelayClient({ url, nodePrivate: nodePriv, nodePublic: nodePub, relayKey: pinned, onPacket: () => {}, onState: (up, err) => states.push(up ? 'up' : (err ?? 'down')) });
  cleanups.push(() => c.close());
  c.start();
  return { c, states };
}

/** A genuine proof from the relay's key, but for another connection's client nonce (an interceptor's recording). */
const recorded = proveRelayServer(relayKey, nodePub, crypto.randomBytes(32), crypto.randomBytes(32))!;

describe('relay handshake: the client pins the relay key', () => {
  it('the right key: connected, and packets flow', async () => {
    const genuine = await fakeRelay({ challengeKey: relayPub, ok: (cn, sn) => proveRelayServer(relayKey, nodePub, sn, cn) });
    const { c } = client(genuine.url, relayPub);
    expect(await until(() => c.connected)).toBe(true);
    expect(c.send(nodePub, Buffer.from('hi'), 0, 2)).toBe(true);
    expect(await until(() => genuine.got.includes(FrameType.SEND_PACKET))).toBe(true);
    expect(c.stats.refusedRelayKey).toBe(0);
  });

  it.each<{ name: string; script: Script; code: RelayAuthError['code'] | null; sendsAuth: boolean }>([
    { name: 'another key in the challenge', script: { challengeKey: publicKeyFromPrivate(generatePrivateKey()), ok: () => new Uint8Array(32) }, code: 'ERR_RELAY_KEY_MISMATCH', sendsAuth: false },
    { name: 'the pinned key without its private half (random proof)', script: { challengeKey: relayPub, ok: () => crypto.randomBytes(32) }, code: 'ERR_RELAY_BAD_PROOF', sendsAuth: true },
    { name: 'a proof replayed from another connection', script: { challengeKey: relayPub, ok: () => recorded }, code: 'ERR_RELAY_BAD_PROOF', sendsAuth: true },
    {
      name: "a proof made with the client's nonces swapped",
      script: { challengeKey: relayPub, ok: (cn, sn) => proveRelayServer(relayKey, nodePub, cn, sn) },
      code: 'ERR_RELAY_BAD_PROOF',
      sendsAuth: true,
    },
    {
      name: "the client's own proof reflected back",
      script: { challengeKey: relayPub, ok: (cn, sn) => proveRelayClient(nodePriv, nodePub, relayPub, sn, cn) },
      code: 'ERR_RELAY_BAD_PROOF',
      sendsAuth: true,
    },
    { name: 'a truncated proof (31 bytes)', script: { challengeKey: relayPub, ok: (cn, sn) => proveRelayServer(relayKey, nodePub, sn, cn)!.subarray(0, 31) }, code: null, sendsAuth: true },
    { name: 'an OK without a proof (a v1 relay)', script: { challengeKey: relayPub, ok: () => new Uint8Array(0) }, code: null, sendsAuth: true },
  ])('refused: $name', async ({ script, code, sendsAuth }) => {
    const fake = await fakeRelay(script);
    const { c, states } = client(fake.url, relayPub);
    // Refused, and retried like an unreachable relay (at least two dials).
    expect(await until(() => c.stats.dials >= 2 && (code === null || states.length >= 1))).toBe(true);
    expect(c.connected).toBe(false);
    expect(c.send(nodePub, Buffer.from('secret'), 0, 6)).toBe(false);
    if (code) {
      expect(c.lastAuthError).toBeInstanceOf(RelayAuthError);
      expect(c.lastAuthError?.code).toBe(code);
      expect(c.stats.refusedRelayKey).toBeGreaterThanOrEqual(1);
      expect(states[0]).toMatch(/refused/);
    } else expect(c.lastError).toMatch(/relay stream: frame type 3: bad length/);
    expect(fake.got.includes(FrameType.CLIENT_AUTH)).toBe(sendsAuth);
    expect(fake.got.filter((t) => t !== FrameType.CLIENT_AUTH)).toEqual([]);
  });
});

describe('relay handshake: the relay checks the client', () => {
  it.each<{ name: string; auth: (serverNonce: Uint8Array) => Buffer }>([
    {
      name: 'a client proof replayed on a new connection',
      auth: () => {
        const cn = new Uint8Array(32);
        return encodeFrame(FrameType.CLIENT_AUTH, nodePub, proveRelayClient(nodePriv, nodePub, relayPub, crypto.randomBytes(32), cn)!, cn);
      },
    },
    {
      name: 'a CLIENT_AUTH without the client nonce (v1)',
      auth: (sn) => {
        const h = Buffer.from([FrameType.CLIENT_AUTH, 0, 0, 0, 64]);
        return Buffer.concat([h, nodePub, proveRelayClient(nodePriv, nodePub, relayPub, sn, new Uint8Array(0))!]);
      },
    },
  ])('refused: $name', async ({ auth }) => {
    const srv = new StandaloneRelay({ authorize: (k) => k === NodePublic.text(nodePub), privateKey: relayPriv }, false);
    const a = await srv.listen('127.0.0.1', 0);
    cleanups.push(() => srv.close());
    const s = connect(a.port, '127.0.0.1');
    cleanups.push(() => void s.destroy());
    const frames: FrameTypeValue[] = [];
    let head = '';
    let upgraded = false;
    const reader = new FrameReader((type, p) => {
      frames.push(type);
      if (type === FrameType.SERVER_CHALLENGE) s.write(auth(Uint8Array.from(p.subarray(RELAY_KEY_SIZE))));
    });
    s.on('data', (c: Buffer) => {
      if (upgraded) return void reader.push(c);
      head += c.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      upgraded = true;
      reader.push(Buffer.from(head.slice(end + 4), 'latin1'));
    });
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    s.on('error', () => {});
    s.write(`GET /relay HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: ${RELAY_UPGRADE}\r\n\r\n`);
    await closed;
    expect(frames).toEqual([FrameType.SERVER_CHALLENGE]);
    expect(srv.relay.stats.accepted).toBe(0);
    expect(srv.relay.stats.refusedAuth + srv.relay.stats.badFrames).toBe(1);
  });
});

/** A real relay admitting our node and a peer, with the peer connected and recording what reaches it. */
async function relayWithPeer(extra: { recheckMs?: number }): Promise<{ srv: StandaloneRelay; url: string; peerPub: Uint8Array; received: string[] }> {
  const peerPriv = generatePrivateKey();
  const peerPub = publicKeyFromPrivate(peerPriv);
  const allowed = new Set([NodePublic.text(nodePub), NodePublic.text(peerPub)]);
  const srv = new StandaloneRelay({ authorize: (k) => allowed.has(k), privateKey: relayPriv, ...extra }, false);
  const a = await srv.listen('127.0.0.1', 0);
  cleanups.push(() => srv.close());
  const url = `http://127.0.0.1:${a.port}`;
  const received: string[] = [];
  const peer = new RelayClient({ url, nodePrivate: peerPriv, nodePublic: peerPub, relayKey: relayPub, onPacket: (_s, buf, len) => received.push(Buffer.from(buf.subarray(0, len)).toString()) });
  cleanups.push(() => peer.close());
  peer.start();
  expect(await until(() => peer.connected)).toBe(true);
  return { srv, url, peerPub, received };
}

describe('relay handshake: a client with the wrong pinned key never forwards packets', () => {
  it('through a real relay: refused, retried, and nothing reaches the peer', async () => {
    const { srv, url, peerPub, received } = await relayWithPeer({ recheckMs: 200 });
    const wrong = client(url, publicKeyFromPrivate(generatePrivateKey())).c;
    const deadline = Date.now() + 1500;
    let accepted = 0;
    while (Date.now() < deadline) {
      if (wrong.send(peerPub, Buffer.from('leak'), 0, 4)) accepted++;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(accepted).toBe(0);
    expect(wrong.stats.sent).toBe(0);
    expect(wrong.stats.dials).toBeGreaterThanOrEqual(2);
    expect(wrong.stats.refusedRelayKey).toBeGreaterThanOrEqual(wrong.stats.dials - 1); // the last dial may be in flight
    expect(wrong.lastAuthError?.code).toBe('ERR_RELAY_KEY_MISMATCH');
    expect(received).toEqual([]);
    expect(srv.relay.stats).toMatchObject({ accepted: 1, forwardedPackets: 0 });
  });
});

describe('relay client: datagrams sent before the first connection is up', () => {
  it('are kept (up to RELAY_PENDING_MAX) and delivered once the relay proved its key, in order', async () => {
    const { url, peerPub, received } = await relayWithPeer({});
    const c = new RelayClient({ url, nodePrivate: nodePriv, nodePublic: nodePub, relayKey: relayPub, onPacket: () => {} });
    cleanups.push(() => c.close());
    c.start(); // dialling: not connected yet
    expect(c.connected).toBe(false);
    expect(c.send(peerPub, Buffer.from('dropped'), 0, 7)).toBe(false); // send() keeps datagram semantics
    const kept: boolean[] = [];
    for (let i = 0; i < RELAY_PENDING_MAX + 2; i++) kept.push(c.queue(peerPub, Buffer.from(`hs${i}`), 0, `hs${i}`.length));
    expect(kept.filter(Boolean)).toHaveLength(RELAY_PENDING_MAX);
    expect(await until(() => received.length === RELAY_PENDING_MAX)).toBe(true);
    expect(received).toEqual(Array.from({ length: RELAY_PENDING_MAX }, (_, i) => `hs${i}`));
    expect(c.queue(peerPub, Buffer.from('late'), 0, 4)).toBe(false); // connected: send() is the way
    expect(c.stats).toMatchObject({ queued: RELAY_PENDING_MAX, sent: RELAY_PENDING_MAX, queuedExpired: 0 });
  });
});
