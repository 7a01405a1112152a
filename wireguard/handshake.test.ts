// The WireGuard handshake engine: round trips with and without PSK, equivalence with the generic Noise
// IKpsk2 core (same bytes, same hash), replay and flood checks, wrong keys, tampering, state errors,
// and TAI64N encoding.
import { describe, expect, it } from 'vitest';
import { bytesToHex } from '../crypto/bytes.js';
import { readU32LE } from './bytes.js';
import { INIT_OFF_MAC1, MESSAGE_INITIATION_SIZE, MESSAGE_RESPONSE_SIZE, WG_IDENTIFIER } from './constants.js';
import { FastCrypto, NodeCrypto, type CryptoBackend, type DhPrivateKey } from '../crypto/backend.js';
import { NobleCrypto } from '../crypto/noble-backend.js';
import {
  HandshakeEngine,
  HS_INITIATION_CONSUMED,
  HS_INITIATION_CREATED,
  HS_RESPONSE_CONSUMED,
  HS_RESPONSE_CREATED,
  HS_ZEROED,
  LocalStatic,
  PeerHandshake,
  R_HS_DECRYPT,
  R_HS_FLOOD,
  R_HS_REPLAY,
  R_HS_STATE,
  R_HS_UNKNOWN_PEER,
  wgConstants,
} from './handshake.js';
import { generatePresharedKey, generatePrivateKey } from '../crypto/key.js';
import { NoiseHandshake } from '../crypto/noise.js';
import { tai64n, tai64nAfter } from './tai64n.js';

const crypto = new NodeCrypto();

function side(priv = generatePrivateKey(), c: CryptoBackend = crypto) {
  const local = new LocalStatic(c, priv);
  const peers = new Map<string, PeerHandshake>();
  const engine = new HandshakeEngine({ crypto: c, local, lookupPeer: (pub) => peers.get(bytesToHex(pub)) ?? null });
  const addPeer = (pub: Uint8Array, psk: Uint8Array | null = null): PeerHandshake => {
    const p = new PeerHandshake(pub);
    p.precompute(local);
    p.setPresharedKey(psk);
    peers.set(bytesToHex(pub), p);
    return p;
  };
  return { priv, local, engine, addPeer, peers };
}

function setup(psk: Uint8Array | null = null) {
  const i = side();
  const r = side();
  const iPeer = i.addPeer(r.local.publicKey, psk); // the initiator's view of the responder
  const rPeer = r.addPeer(i.local.publicKey, psk);
  return { i, r, iPeer, rPeer };
}

const WALL = 1_763_000_000_000;

describe('HandshakeEngine', () => {
  it.each([
    { name: 'no psk', psk: null },
    { name: 'psk', psk: generatePresharedKey() },
  ])('round trip ($name): states, sizes, indices, matching keys', ({ psk }) => {
    const { i, r, iPeer, rPeer } = setup(psk);
    const init = i.engine.createInitiation(iPeer, 0x11223344, WALL) as Uint8Array;
    expect(init.length).toBe(MESSAGE_INITIATION_SIZE);
    expect(readU32LE(init, 0)).toBe(1);
    expect(readU32LE(init, 4)).toBe(0x11223344);
    expect(iPeer.state).toBe(HS_INITIATION_CREATED);
    expect(r.engine.consumeInitiation(init, 0)).toBe(rPeer);
    expect(rPeer.state).toBe(HS_INITIATION_CONSUMED);
    expect(rPeer.remoteIndex).toBe(0x11223344);
    const resp = r.engine.createResponse(rPeer, 0x55667788) as Uint8Array;
    expect(resp.length).toBe(MESSAGE_RESPONSE_SIZE);
    expect([readU32LE(resp, 0), readU32LE(resp, 4), readU32LE(resp, 8)]).toEqual([2, 0x55667788, 0x11223344]);
    expect(rPeer.state).toBe(HS_RESPONSE_CREATED);
    expect(i.engine.consumeResponse(resp, iPeer)).toBe(iPeer);
    expect(iPeer.state).toBe(HS_RESPONSE_CONSUMED);
    const ki = i.engine.beginSymmetricSession(iPeer)!;
    const kr = r.engine.beginSymmetricSession(rPeer)!;
    expect(ki.isInitiator).toBe(true);
    expect(kr.isInitiator).toBe(false);
    expect(bytesToHex(ki.sendKey)).toBe(bytesToHex(kr.recvKey));
    expect(bytesToHex(ki.recvKey)).toBe(bytesToHex(kr.sendKey));
    expect(bytesToHex(ki.sendKey)).not.toBe(bytesToHex(ki.recvKey));
    expect([ki.localIndex, ki.remoteIndex, kr.localIndex, kr.remoteIndex]).toEqual([0x11223344, 0x55667788, 0x55667788, 0x11223344]);
    expect(iPeer.state).toBe(HS_ZEROED);
    expect(rPeer.state).toBe(HS_ZEROED);
  });

  it('is exactly Noise_IKpsk2 with prologue = identifier, payloads TAI64N and empty', () => {
    // Pin the ephemerals so the generic core and the engine must produce identical bytes.
    const ei = generatePrivateKey();
    const er = generatePrivateKey();
    const pinned = (k: Uint8Array): CryptoBackend => {
      const c = new NodeCrypto();
      c.generatePrivateKey = (): DhPrivateKey => c.importPrivateKey(k);
      return c;
    };
    const psk = generatePresharedKey();
    const i = side(generatePrivateKey(), pinned(ei));
    const r = side(generatePrivateKey(), pinned(er));
    const iPeer = i.addPeer(r.local.publicKey, psk);
    const rPeer = r.addPeer(i.local.publicKey, psk);
    const init = i.engine.createInitiation(iPeer, 1, WALL)!;
    r.engine.consumeInitiation(init, 0);
    const resp = r.engine.createResponse(rPeer, 2)!;
    i.engine.consumeResponse(resp, iPeer);
    const hashAfter = bytesToHex(iPeer.hash);

    const prologue = new TextEncoder().encode(WG_IDENTIFIER);
    const ni = new NoiseHandshake({ initiator: true, staticPrivate: i.priv, remoteStatic: r.local.publicKey, prologue, psk, ephemeralPrivate: ei });
    const nr = new NoiseHandshake({ initiator: false, staticPrivate: r.priv, prologue, psk, ephemeralPrivate: er });
    const m1 = ni.writeMessage(tai64n(WALL));
    expect(bytesToHex(m1)).toBe(bytesToHex(init.subarray(8, INIT_OFF_MAC1)));
    expect(bytesToHex(nr.readMessage(m1))).toBe(bytesToHex(tai64n(WALL)));
    const m2 = nr.writeMessage(new Uint8Array(0));
    expect(bytesToHex(m2)).toBe(bytesToHex(resp.subarray(12, 60)));
    ni.readMessage(m2);
    expect(bytesToHex(ni.handshakeHash())).toBe(hashAfter);
    const ki = i.engine.beginSymmetricSession(iPeer)!;
    const { send } = ni.split();
    // Same transport key: a message sealed by the Noise cipher opens with the engine's key at nonce 0.
    const ct = send.encrypt(Uint8Array.of(1, 2, 3));
    expect(crypto.open(ki.sendKey, 0, ct, new Uint8Array(0))).toEqual(Buffer.from([1, 2, 3]));
  });

  it('rejects a replayed initiation and a flood of fresh ones', () => {
    const { i, r, iPeer } = setup();
    const first = i.engine.createInitiation(iPeer, 1, WALL)!;
    expect(r.engine.consumeInitiation(first, 1000)).not.toBeNull();
    // The identical message again, much later: same timestamp → replay.
    expect(r.engine.consumeInitiation(first, 5000)).toBeNull();
    expect(r.engine.lastReason).toBe(R_HS_REPLAY);
    // An older timestamp is a replay too.
    const older = i.engine.createInitiation(iPeer, 2, WALL - 1000)!;
    expect(r.engine.consumeInitiation(older, 6000)).toBeNull();
    expect(r.engine.lastReason).toBe(R_HS_REPLAY);
    // A newer timestamp, but less than 20 ms after the last consumed one → flood.
    const fresh = i.engine.createInitiation(iPeer, 3, WALL + 40)!;
    expect(r.engine.consumeInitiation(fresh, 1010)).toBeNull();
    expect(r.engine.lastReason).toBe(R_HS_FLOOD);
    // Wait: then it is accepted (the flood check did not consume the timestamp).
    expect(r.engine.consumeInitiation(fresh, 1021)).not.toBeNull();
  });

  it('rejects initiations for another responder, from unknown peers, and tampered ones', () => {
    const { i, r, iPeer } = setup();
    const other = side();
    const init = i.engine.createInitiation(iPeer, 1, WALL)!;
    expect(other.engine.consumeInitiation(init, 0)).toBeNull();
    expect(other.engine.lastReason).toBe(R_HS_DECRYPT);
    r.peers.clear();
    expect(r.engine.consumeInitiation(init, 0)).toBeNull();
    expect(r.engine.lastReason).toBe(R_HS_UNKNOWN_PEER);
    const { i: i2, r: r2, iPeer: ip2 } = setup();
    const msg = i2.engine.createInitiation(ip2, 1, WALL)!;
    for (const off of [8, 40, 70, 90, 110]) {
      const bad = Uint8Array.from(msg);
      bad[off] ^= 0x40;
      expect(r2.engine.consumeInitiation(bad, 0)).toBeNull();
    }
    expect(r2.engine.consumeInitiation(msg.subarray(0, 100), 0)).toBeNull();
  });

  it('rejects a response with a psk mismatch, to the wrong index, tampered, or unsolicited', () => {
    const i = side();
    const r = side();
    const iPeer = i.addPeer(r.local.publicKey, generatePresharedKey());
    const rPeer = r.addPeer(i.local.publicKey, generatePresharedKey());
    r.engine.consumeInitiation(i.engine.createInitiation(iPeer, 7, WALL)!, 0);
    const resp = r.engine.createResponse(rPeer, 8)!;
    expect(i.engine.consumeResponse(resp, iPeer)).toBeNull();
    expect(i.engine.lastReason).toBe(R_HS_DECRYPT);
    expect(iPeer.state).toBe(HS_INITIATION_CREATED); // unchanged: a later genuine response still works

    const { i: a, r: b, iPeer: ap, rPeer: bp } = setup();
    b.engine.consumeInitiation(a.engine.createInitiation(ap, 7, WALL)!, 0);
    const good = b.engine.createResponse(bp, 8)!;
    const wrongIdx = Uint8Array.from(good);
    wrongIdx[8] ^= 1;
    expect(a.engine.consumeResponse(wrongIdx, ap)).toBeNull();
    expect(a.engine.lastReason).toBe(R_HS_STATE);
    const tampered = Uint8Array.from(good);
    tampered[50] ^= 1;
    expect(a.engine.consumeResponse(tampered, ap)).toBeNull();
    expect(a.engine.consumeResponse(good, ap)).toBe(ap);
    // Now in RESPONSE_CONSUMED: the same response again is unexpected.
    expect(a.engine.consumeResponse(good, ap)).toBeNull();
    // Unsolicited: createResponse without a consumed initiation.
    expect(b.engine.createResponse(new PeerHandshake(a.local.publicKey), 9)).toBeNull();
    expect(b.engine.beginSymmetricSession(new PeerHandshake(a.local.publicKey))).toBeNull();
  });

  it('crossing initiations: each side still completes its own initiation with the other\'s response', () => {
    const { i: a, r: b, iPeer: aView, rPeer: bView } = setup(generatePresharedKey());
    const initA = a.engine.createInitiation(aView, 101, WALL)!;
    const initB = b.engine.createInitiation(bView, 201, WALL)!;
    // Each consumes the other's initiation (overwriting its own state, but keeping it as `crossed`).
    expect(b.engine.consumeInitiation(initA, 0)).toBe(bView);
    const respB = b.engine.createResponse(bView, 202)!;
    const kB = b.engine.beginSymmetricSession(bView)!; // B as responder for A's initiation
    expect(a.engine.consumeInitiation(initB, 0)).toBe(aView);
    const respA = a.engine.createResponse(aView, 102)!;
    const kA = a.engine.beginSymmetricSession(aView)!;
    // The crossing responses complete each side's own initiation.
    expect(a.engine.consumeResponse(respB, aView)).toBe(aView);
    const k1 = a.engine.beginSymmetricSession(aView)!;
    expect(b.engine.consumeResponse(respA, bView)).toBe(bView);
    const k2 = b.engine.beginSymmetricSession(bView)!;
    expect([k1.isInitiator, k1.localIndex, k1.remoteIndex]).toEqual([true, 101, 202]);
    expect(bytesToHex(k1.sendKey)).toBe(bytesToHex(kB.recvKey));
    expect([k2.isInitiator, k2.localIndex, k2.remoteIndex]).toEqual([true, 201, 102]);
    expect(bytesToHex(k2.sendKey)).toBe(bytesToHex(kA.recvKey));
    // A response is consumed once; the crossed state is gone afterwards.
    expect(a.engine.consumeResponse(respB, aView)).toBeNull();
    expect(aView.crossed).toBeNull();
  });

  it('refuses peers whose key is low-order (no usable static-static DH)', () => {
    const i = side();
    const p = i.addPeer(new Uint8Array(32));
    expect(p.precomputedStaticStatic).toBeNull();
    expect(i.engine.createInitiation(p, 1, WALL)).toBeNull();
  });

  it('logs ephemeral private keys when asked', () => {
    const { i, r, iPeer, rPeer } = setup();
    const lines: string[] = [];
    i.engine.keyLog = (l) => lines.push(l);
    r.engine.keyLog = (l) => lines.push(l);
    r.engine.consumeInitiation(i.engine.createInitiation(iPeer, 1, WALL)!, 0);
    r.engine.createResponse(rPeer, 2);
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l).toMatch(/^LOCAL_EPHEMERAL_PRIVATE_KEY = [A-Za-z0-9+/]{43}=$/);
  });

  it("follows each ephemeral key with that peer's PSK (Wireshark binds them by order)", () => {
    const psk = generatePresharedKey();
    const { i, r, iPeer, rPeer } = setup(psk);
    const lines: string[] = [];
    i.engine.keyLog = (l) => lines.push(l);
    r.engine.keyLog = (l) => lines.push(l);
    r.engine.consumeInitiation(i.engine.createInitiation(iPeer, 1, WALL)!, 0);
    r.engine.createResponse(rPeer, 2);
    const pskLine = `PRESHARED_KEY = ${Buffer.from(psk).toString('base64')}`;
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^LOCAL_EPHEMERAL_PRIVATE_KEY = /);
    expect(lines[1]).toBe(pskLine);
    expect(lines[2]).toMatch(/^LOCAL_EPHEMERAL_PRIVATE_KEY = /);
    expect(lines[3]).toBe(pskLine);
  });
});

describe('TAI64N', () => {
  it('encodes 2^62 + 10 + seconds and whitens nanoseconds to multiples of 2^24', () => {
    const t = tai64n(1_700_000_000_123);
    const dv = new DataView(t.buffer);
    expect(dv.getUint32(0)).toBe(0x40000000);
    expect(dv.getUint32(4)).toBe(1_700_000_000 + 10);
    const ns = dv.getUint32(8);
    expect(ns % 2 ** 24).toBe(0);
    expect(ns).toBe(123_000_000 - (123_000_000 % 2 ** 24));
  });
  it('orders timestamps; within one 16.8 ms slot they compare equal', () => {
    expect(tai64nAfter(tai64n(1000_020), tai64n(1000_000))).toBe(true);
    expect(tai64nAfter(tai64n(1000_000), tai64n(1000_020))).toBe(false);
    expect(tai64nAfter(tai64n(1000_001), tai64n(1000_000))).toBe(false);
    expect(tai64nAfter(tai64n(2000_000), tai64n(1999_999))).toBe(true);
  });
});

describe.each<[string, CryptoBackend]>([
  ['node', new NodeCrypto()],
  ['noble', new NobleCrypto()],
  ['fast (default)', new FastCrypto()],
])('construction constants (%s backend)', (_name, c) => {
  it('Ci and Hi match the spec (60e26dae…8b78cd36, 2211b361…ba079ef3)', () => {
    const { ci, hi } = wgConstants(c);
    expect(bytesToHex(ci)).toMatch(/^60e26dae.*8b78cd36$/);
    expect(bytesToHex(hi)).toMatch(/^2211b361.*ba079ef3$/);
  });
});
