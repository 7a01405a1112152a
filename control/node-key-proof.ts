// Proof that the agent holds the private half of the node key it presents (crypto/key-proof.ts). The Noise
// handshake already proves the machine key; the node key is proven over this channel's handshake hash and
// the machine key:
//
//   proof = HMAC-BLAKE2s(DH(node, control), "grantwire nodekey proof v1" ‖ h ‖ machinePublic)
//
// Only the node key's holder (or control) can compute it, and binding h means a proof is good for one
// Noise session only, so it cannot be replayed on another connection or by another machine.
import type { DhPrivateKey } from '../crypto/backend.js';
import { proveKey, verifyKeyProof } from '../crypto/key-proof.js';

const LABEL = new TextEncoder().encode('grantwire nodekey proof v1');

/** Agent side: computes the proof (hex) for one session. */
export function proveNodeKey(
  nodePrivate: Uint8Array,
  controlPublic: Uint8Array,
  handshakeHash: Uint8Array,
  machinePublic: Uint8Array,
): string {
  const mac = proveKey(nodePrivate, controlPublic, LABEL, handshakeHash, machinePublic);
  if (!mac) throw new Error('node key proof: invalid control public key');
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
  return verifyKeyProof(controlPrivate, nodePublic, LABEL, handshakeHash, machinePublic, new Uint8Array(Buffer.from(proofHex, 'hex')));
}
