// Proof that a relay client holds the private half of the node key it presents (crypto/key-proof.ts):
//
//   proof = HMAC-BLAKE2s(DH(node, relay), "grantwire relay auth v1" ‖ nonce ‖ nodePublic)
//
// The relay picks a fresh random nonce per connection, so a proof is good for one connection only; only
// the node key's holder (or the relay) can compute it, so a client cannot present another node's key.
import type { DhPrivateKey } from '../crypto/backend.js';
import { proveKey, verifyKeyProof } from '../crypto/key-proof.js';

const LABEL = new TextEncoder().encode('grantwire relay auth v1');

/** Client side; null when the relay's public key is unusable (low-order point). */
export function proveRelayAuth(nodePrivate: Uint8Array, nodePublic: Uint8Array, relayPublic: Uint8Array, nonce: Uint8Array): Uint8Array | null {
  return proveKey(nodePrivate, relayPublic, LABEL, nonce, nodePublic);
}

/** Relay side: constant-time check of `proof` for `nodePublic` on this connection's nonce. */
export function verifyRelayAuth(relayPrivate: DhPrivateKey, nodePublic: Uint8Array, nonce: Uint8Array, proof: Uint8Array): boolean {
  return verifyKeyProof(relayPrivate, nodePublic, LABEL, nonce, nodePublic, proof);
}
