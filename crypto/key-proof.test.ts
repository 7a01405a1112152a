// The DH-keyed key proof shared by control's node-key proof and the relay's client authentication: a proof
// verifies only for the same key pair, label, context and bound bytes, and a low-order verifier key gives none.
import { x25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { defaultCrypto } from './backend.js';
import { proveKey, verifyKeyProof } from './key-proof.js';

const enc = (s: string) => new TextEncoder().encode(s);
const crypto = defaultCrypto();
const presented = crypto.randomBytes(32);
const presentedPublic = x25519.getPublicKey(presented);
const verifierRaw = crypto.randomBytes(32);
const verifier = crypto.importPrivateKey(verifierRaw);
const verifierPublic = x25519.getPublicKey(verifierRaw);
const label = enc('grantwire test proof v1');
const context = crypto.randomBytes(32);
const bound = crypto.randomBytes(32);
const proof = proveKey(presented, verifierPublic, label, context, bound)!;

describe('crypto/key-proof', () => {
  it('a proof verifies for the same keys, label, context and bound', () => {
    expect(proof).toHaveLength(32);
    expect(verifyKeyProof(verifier, presentedPublic, label, context, bound, proof)).toBe(true);
  });

  const flipped = (b: Uint8Array) => Uint8Array.from(b, (x, i) => (i === 0 ? x ^ 1 : x));
  it.each([
    { name: 'another presented key', pub: x25519.getPublicKey(crypto.randomBytes(32)) },
    { name: 'another label', label: enc('grantwire other proof v1') },
    { name: 'another context (a replay on a new connection)', context: crypto.randomBytes(32) },
    { name: 'another bound key', bound: crypto.randomBytes(32) },
    { name: 'a flipped proof byte', proof: flipped(proof) },
    { name: 'a truncated proof', proof: proof.subarray(0, 31) },
    { name: 'an empty proof', proof: new Uint8Array(0) },
  ])('refused: $name', (c) => {
    expect(verifyKeyProof(verifier, c.pub ?? presentedPublic, c.label ?? label, c.context ?? context, c.bound ?? bound, c.proof ?? proof)).toBe(false);
  });

  it('a low-order verifier key gives no proof, and a low-order presented key never verifies', () => {
    const zero = new Uint8Array(32);
    expect(proveKey(presented, zero, label, context, bound)).toBeNull();
    expect(verifyKeyProof(verifier, zero, label, context, bound, proof)).toBe(false);
  });
});
