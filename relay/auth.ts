// Proof that a relay client holds the private half of the node key it presents, in the shape of
// control/node-key-proof.ts (X25519 keys cannot sign, so a MAC keyed by a Diffie-Hellman stands in):
//
//   proof = HMAC-BLAKE2s(DH(node, relay), "grantwire relay auth v1" ‖ nonce ‖ nodePublic)
//
// The relay picks a fresh random nonce per connection, so a proof is good for one connection only; only
// the node key's holder (or the relay) can compute it, so a client cannot present another node's key.
import { defaultCrypto, type DhPrivateKey } from '../crypto/backend.js';
import { ctEqual, wipe } from '../crypto/bytes.js';

const LABEL = new TextEncoder().encode('grantwire relay auth v1');

function message(nonce: Uint8Array, nodePublic: Uint8Array): Uint8Array {
  const m = new Uint8Array(LABEL.length + nonce.length + nodePublic.length);
  m.set(LABEL, 0);
  m.set(nonce, LABEL.length);
  m.set(nodePublic, LABEL.length + nonce.length);
  return m;
}

/** Client side; null when the relay's public key is unusable (low-order point). */
export function proveRelayAuth(nodePrivate: Uint8Array, nodePublic: Uint8Array, relayPublic: Uint8Array, nonce: Uint8Array): Uint8Array | null {
  const crypto = defaultCrypto();
  const shared = crypto.dh(crypto.importPrivateKey(nodePrivate), relayPublic);
  if (!shared) return null;
  const mac = crypto.hmac(shared, message(nonce, nodePublic));
  wipe(shared);
  return mac;
}

/** Relay side: constant-time check of `proof` for `nodePublic` on this connection's nonce. */
export function verifyRelayAuth(relayPrivate: DhPrivateKey, nodePublic: Uint8Array, nonce: Uint8Array, proof: Uint8Array): boolean {
  const crypto = defaultCrypto();
  const shared = crypto.dh(relayPrivate, nodePublic);
  if (!shared) return false;
  const want = crypto.hmac(shared, message(nonce, nodePublic));
  wipe(shared);
  return proof.length === want.length && ctEqual(want, proof);
}
