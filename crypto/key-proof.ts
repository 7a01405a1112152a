// Proof that a party holds the private half of an X25519 key it presents. X25519 keys cannot sign, so a MAC
// keyed by the static-static Diffie-Hellman between the presented key and the verifier's key stands in:
//
//   proof = HMAC-BLAKE2s(DH(presented, verifier), label ‖ context ‖ bound)
//
// Only the key's holder (or the verifier) can compute it. `context` makes a proof good once (a Noise
// handshake hash, a per-connection nonce) and `bound` ties it to what it vouches for (a machine key, the
// presented key itself); the label keeps proofs of one protocol from being replayed in another. Used by
// control's node-key proof (control/node-key-proof.ts) and the relay handshake, both ways (relay/auth.ts).
import { defaultCrypto, type DhPrivateKey } from './backend.js';
import { ctEqual, wipe } from './bytes.js';

function message(label: Uint8Array, context: Uint8Array, bound: Uint8Array): Uint8Array {
  const m = new Uint8Array(label.length + context.length + bound.length);
  m.set(label, 0);
  m.set(context, label.length);
  m.set(bound, label.length + context.length);
  return m;
}

/** The prover's side (raw or imported private key); null when the verifier's public key is unusable (a low-order point). */
export function proveKey(presentedPrivate: Uint8Array | DhPrivateKey, verifierPublic: Uint8Array, label: Uint8Array, context: Uint8Array, bound: Uint8Array): Uint8Array | null {
  const crypto = defaultCrypto();
  const priv = presentedPrivate instanceof Uint8Array ? crypto.importPrivateKey(presentedPrivate) : presentedPrivate;
  const shared = crypto.dh(priv, verifierPublic);
  if (!shared) return null;
  const mac = crypto.hmac(shared, message(label, context, bound));
  wipe(shared);
  return mac;
}

/** The verifier's side: constant-time check of `proof` for `presentedPublic`. */
export function verifyKeyProof(verifierPrivate: DhPrivateKey, presentedPublic: Uint8Array, label: Uint8Array, context: Uint8Array, bound: Uint8Array, proof: Uint8Array): boolean {
  const crypto = defaultCrypto();
  const shared = crypto.dh(verifierPrivate, presentedPublic);
  if (!shared) return false;
  const want = crypto.hmac(shared, message(label, context, bound));
  wipe(shared);
  return proof.length === want.length && ctEqual(want, proof);
}
