// The relay handshake's two proofs of key possession (crypto/key-proof.ts), one each way, over the same
// static-static DH and both connection nonces:
//
//   client → relay:  HMAC-BLAKE2s(DH(node, relay), "grantwire relay client auth v2" ‖ sNonce ‖ cNonce ‖ nodePublic)
//   relay → client:  HMAC-BLAKE2s(DH(relay, node), "grantwire relay server auth v2" ‖ sNonce ‖ cNonce ‖ relayPublic)
//
// The relay picks sNonce and the client cNonce, fresh per connection, so neither proof is good on another
// connection (a replayed SERVER_OK fails on the client's new cNonce). Only the holder of the node key (or
// the relay) can make the first; only the holder of the relay key the client pinned (or the node) can make
// the second, so a relay or interceptor with another key is refused before the client sends any packet.
// The labels differ, so neither proof can be reflected as the other.
//
// What pinning does not do: frames after the handshake are not encrypted or MACed (WireGuard and disco
// already protect the payloads), so an on-path attacker that merely forwards the handshake to the real
// relay can still watch who talks to whom or drop frames. It cannot pose as the relay with its own key;
// an https:// relay URL closes the on-path gap as well.
import type { DhPrivateKey } from '../crypto/backend.js';
import { proveKey, verifyKeyProof } from '../crypto/key-proof.js';

const CLIENT_LABEL = new TextEncoder().encode('grantwire relay client auth v2');
const SERVER_LABEL = new TextEncoder().encode('grantwire relay server auth v2');

function nonces(serverNonce: Uint8Array, clientNonce: Uint8Array): Uint8Array {
  const c = new Uint8Array(serverNonce.length + clientNonce.length);
  c.set(serverNonce, 0);
  c.set(clientNonce, serverNonce.length);
  return c;
}

/** Client side; null when the relay's public key is unusable (low-order point). */
export function proveRelayClient(nodePrivate: Uint8Array | DhPrivateKey, nodePublic: Uint8Array, relayPublic: Uint8Array, serverNonce: Uint8Array, clientNonce: Uint8Array): Uint8Array | null {
  return proveKey(nodePrivate, relayPublic, CLIENT_LABEL, nonces(serverNonce, clientNonce), nodePublic);
}

/** Relay side: constant-time check of the client's `proof` for `nodePublic` on this connection's nonces. */
export function verifyRelayClient(relayPrivate: DhPrivateKey, nodePublic: Uint8Array, serverNonce: Uint8Array, clientNonce: Uint8Array, proof: Uint8Array): boolean {
  return verifyKeyProof(relayPrivate, nodePublic, CLIENT_LABEL, nonces(serverNonce, clientNonce), nodePublic, proof);
}

/** Relay side: the proof in SERVER_OK; null when the node's key is unusable (low-order point). */
export function proveRelayServer(relayPrivate: DhPrivateKey, nodePublic: Uint8Array, serverNonce: Uint8Array, clientNonce: Uint8Array): Uint8Array | null {
  return proveKey(relayPrivate, nodePublic, SERVER_LABEL, nonces(serverNonce, clientNonce), relayPrivate.publicKey);
}

/** Client side: constant-time check that SERVER_OK's `proof` comes from the holder of the pinned `relayPublic`. */
export function verifyRelayServer(nodePrivate: DhPrivateKey, relayPublic: Uint8Array, serverNonce: Uint8Array, clientNonce: Uint8Array, proof: Uint8Array): boolean {
  return verifyKeyProof(nodePrivate, relayPublic, SERVER_LABEL, nonces(serverNonce, clientNonce), relayPublic, proof);
}
