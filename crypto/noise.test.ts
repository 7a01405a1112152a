// Generic Noise IK/IKpsk2 core against the public-domain cacophony vector
// (Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s, prologue "John Galt"), plus round trips and failure cases.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GrantwireError } from '../types/errors.js';
import { bytesToHex, hexToBytes } from './bytes.js';
import { NobleCrypto } from './noble-backend.js';
import { NodeCrypto, type CryptoBackend } from './backend.js';
import { generatePrivateKey, publicKeyFromPrivate } from './key.js';
import { NoiseHandshake } from './noise.js';

interface CacophonyVector {
  init_prologue: string;
  init_psks: string[];
  init_static: string;
  init_ephemeral: string;
  init_remote_static: string;
  resp_prologue: string;
  resp_psks: string[];
  resp_static: string;
  resp_ephemeral: string;
  handshake_hash: string;
  messages: { payload: string; ciphertext: string }[];
}

const vec = (
  JSON.parse(readFileSync(join(import.meta.dirname, 'testdata/noise-ikpsk2.json'), 'utf8')) as {
    vectors: CacophonyVector[];
  }
).vectors[0];

describe.each<[string, CryptoBackend]>([
  ['node', new NodeCrypto()],
  ['noble', new NobleCrypto()],
])('cacophony Noise_IKpsk2 vector (%s backend)', (_name, crypto) => {
  it('reproduces all six messages and the handshake hash', () => {
    const init = new NoiseHandshake({
      initiator: true,
      staticPrivate: hexToBytes(vec.init_static),
      remoteStatic: hexToBytes(vec.init_remote_static),
      prologue: hexToBytes(vec.init_prologue),
      psk: hexToBytes(vec.init_psks[0]),
      ephemeralPrivate: hexToBytes(vec.init_ephemeral),
      crypto,
    });
    const resp = new NoiseHandshake({
      initiator: false,
      staticPrivate: hexToBytes(vec.resp_static),
      prologue: hexToBytes(vec.resp_prologue),
      psk: hexToBytes(vec.resp_psks[0]),
      ephemeralPrivate: hexToBytes(vec.resp_ephemeral),
      crypto,
    });
    const [m0, m1, ...transport] = vec.messages;
    const c0 = init.writeMessage(hexToBytes(m0.payload));
    expect(bytesToHex(c0)).toBe(m0.ciphertext);
    expect(bytesToHex(resp.readMessage(c0))).toBe(m0.payload);
    expect(bytesToHex(resp.remoteStaticPublic as Uint8Array)).toBe(bytesToHex(publicKeyFromPrivate(hexToBytes(vec.init_static))));
    const c1 = resp.writeMessage(hexToBytes(m1.payload));
    expect(bytesToHex(c1)).toBe(m1.ciphertext);
    expect(bytesToHex(init.readMessage(c1))).toBe(m1.payload);
    expect(init.isComplete() && resp.isComplete()).toBe(true);
    expect(bytesToHex(init.handshakeHash())).toBe(vec.handshake_hash);
    expect(bytesToHex(resp.handshakeHash())).toBe(vec.handshake_hash);
    const a = init.split();
    const b = resp.split();
    // Messages alternate: index 2 initiator→responder, 3 responder→initiator, ...
    transport.forEach((m, i) => {
      const [tx, rx] = i % 2 === 0 ? [a.send, b.recv] : [b.send, a.recv];
      const ct = tx.encrypt(hexToBytes(m.payload));
      expect(bytesToHex(ct)).toBe(m.ciphertext);
      expect(bytesToHex(rx.decrypt(ct))).toBe(m.payload);
    });
  });
});

function pair(opts: { psk?: Uint8Array; respPsk?: Uint8Array; wrongRemote?: boolean; prologue2?: Uint8Array } = {}) {
  const si = generatePrivateKey();
  const sr = generatePrivateKey();
  const init = new NoiseHandshake({
    initiator: true,
    staticPrivate: si,
    remoteStatic: opts.wrongRemote ? publicKeyFromPrivate(generatePrivateKey()) : publicKeyFromPrivate(sr),
    prologue: new TextEncoder().encode('grantwire test'),
    psk: opts.psk,
  });
  const resp = new NoiseHandshake({
    initiator: false,
    staticPrivate: sr,
    prologue: opts.prologue2 ?? new TextEncoder().encode('grantwire test'),
    psk: opts.respPsk ?? opts.psk,
  });
  return { init, resp, si, sr };
}

describe('NoiseHandshake round trips', () => {
  it.each([
    { name: 'IK without psk', psk: undefined },
    { name: 'IKpsk2', psk: new Uint8Array(32).fill(7) },
  ])('$name: payloads, transport both ways, matching hashes', ({ psk }) => {
    const { init, resp, si } = pair({ psk });
    const m1 = init.writeMessage(Uint8Array.of(1, 2, 3));
    expect(m1.length).toBe(32 + 48 + 3 + 16);
    expect([...resp.readMessage(m1)]).toEqual([1, 2, 3]);
    expect(bytesToHex(resp.remoteStaticPublic as Uint8Array)).toBe(bytesToHex(publicKeyFromPrivate(si)));
    const m2 = resp.writeMessage();
    expect(m2.length).toBe(48);
    expect(init.readMessage(m2).length).toBe(0);
    expect(bytesToHex(init.handshakeHash())).toBe(bytesToHex(resp.handshakeHash()));
    const a = init.split();
    const b = resp.split();
    for (let i = 0; i < 5; i++) {
      expect([...b.recv.decrypt(a.send.encrypt(Uint8Array.of(i), Uint8Array.of(9)), Uint8Array.of(9))]).toEqual([i]);
      expect([...a.recv.decrypt(b.send.encrypt(Uint8Array.of(i + 10)))]).toEqual([i + 10]);
    }
  });

  it.each([
    { name: 'psk mismatch', opts: { psk: new Uint8Array(32).fill(1), respPsk: new Uint8Array(32).fill(2) }, failsAt: 2 },
    { name: 'initiator has the wrong responder key', opts: { wrongRemote: true }, failsAt: 1 },
    { name: 'prologue mismatch', opts: { prologue2: Uint8Array.of(1) }, failsAt: 1 },
  ])('$name fails with ERR_NOISE_HANDSHAKE', ({ opts, failsAt }) => {
    const { init, resp } = pair(opts);
    const m1 = init.writeMessage();
    if (failsAt === 1) {
      expect(() => resp.readMessage(m1)).toThrow(GrantwireError);
      return;
    }
    resp.readMessage(m1);
    const m2 = resp.writeMessage();
    expect(() => init.readMessage(m2)).toThrowError(/rejected/);
  });

  it('rejects tampered, truncated and out-of-turn messages', () => {
    const { init, resp } = pair();
    expect(() => resp.writeMessage()).toThrowError(/not our turn/);
    const m1 = init.writeMessage(Uint8Array.of(5));
    const bad = Uint8Array.from(m1);
    bad[50] ^= 1;
    expect(() => pair().resp.readMessage(bad)).toThrow(GrantwireError);
    expect(() => pair().resp.readMessage(m1.subarray(0, 40))).toThrowError(/too short/);
    expect(() => init.split()).toThrowError(/before the handshake completed/);
  });

  it('NoiseCipher rejects replayed and reordered messages', () => {
    const { init, resp } = pair();
    resp.readMessage(init.writeMessage());
    init.readMessage(resp.writeMessage());
    const a = init.split();
    const b = resp.split();
    const c0 = a.send.encrypt(Uint8Array.of(0));
    const c1 = a.send.encrypt(Uint8Array.of(1));
    expect(() => b.recv.decrypt(c1)).toThrowError(/failed authentication/);
    expect([...b.recv.decrypt(c0)]).toEqual([0]);
    expect(() => b.recv.decrypt(c0)).toThrow(GrantwireError);
    expect([...b.recv.decrypt(c1)]).toEqual([1]);
    expect(() => b.recv.decrypt(new Uint8Array(3))).toThrow(GrantwireError);
  });

  it('the constructor validates its options', () => {
    expect(() => new NoiseHandshake({ initiator: true, staticPrivate: generatePrivateKey(), prologue: new Uint8Array(0) })).toThrow(
      /remoteStatic/,
    );
    expect(() => new NoiseHandshake({ initiator: false, staticPrivate: new Uint8Array(3), prologue: new Uint8Array(0) })).toThrow(GrantwireError);
  });
});
