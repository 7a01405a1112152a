// Proof that the agent holds the private half of the node key it presents. The Noise handshake already
// proves the machine key; a node key (X25519, no signatures) is proven with a MAC keyed by the static-static
// Diffie-Hellman between node key and control's key, over this channel's handshake hash and the machine key:
//
//   proof = HMAC-BLAKE2s(DH(node, control), "grantwire nodekey proof v1" ‖ h ‖ machinePublic)
//
// Only the node key's holder (or control) can compute it, and binding h means a proof is good for one
// Noise session only, so it cannot be replayed on another connection or by another machine.
import { defaultCrypto, type DhPrivateKey } from '../crypto/backend.js';
import { ctEqual, wipe } from '../crypto/bytes.js';

const LABEL = new TextEncoder().encode('grantwire nodekey proof v1');

function message(handshakeHash: Uint8Array, machinePublic: Uint8Array): Uint8Array {
  const m = new Uint8Array(LABEL.length + handshakeHash.length + machinePublic.length);
  m.set(LABEL, 0);
  m.set(handshakeHash, LABEL.length);
  m.set(machinePublic, LABEL.length + handshakeHash.length);
  return m;
}

/** Agent side: computes the proof (hex) for one session. */
export function proveNodeKey(
  nodePrivate: Uint8Array,
  controlPublic: Uint8Array,
  handshakeHash: Uint8Array,
  machinePublic: Uint8Array,
): string {
  const crypto = defaultCrypto();
  const shared = crypto.dh(crypto.importPrivateKey(nodePrivate), controlPublic);
  if (!shared) throw new Error('node key proof: invalid control public key');
  const mac = crypto.hmac(shared, message(handshakeHash, machinePublic));
  wipe(shared);
  return Buffer.from(mac).toString('hex');
}

/** Control side: true when `proofHex` proves `nodePublic` for this session. Constant-time. */
export function verifyNodeKeyProof(
  controlPrivate: DhPrivateKey,
  nodePublic: Uint8Array,
  handshakeHash: Uint8Array,
  machinePublic: Uint8Array,
  proofHex: string,
): boolean {
  const crypto = defaultCrypto();
  const shared = crypto.dh(controlPrivate, nodePublic);
  if (!shared) return false;
  const want = crypto.hmac(shared, message(handshakeHash, machinePublic));
  wipe(shared);
  const got = Buffer.from(proofHex, 'hex');
  return got.length === want.length && ctEqual(want, new Uint8Array(got));
}
