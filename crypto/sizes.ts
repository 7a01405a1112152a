// Sizes fixed by the primitives themselves (RFC 7748 X25519, RFC 7693 BLAKE2s-256, RFC 8439 Poly1305).
// Protocols built on them (wireguard/constants.ts, the control channel) derive their layouts from these.
export const KEY_SIZE = 32; // X25519 private and public keys, ChaCha20 keys
export const HASH_SIZE = 32; // BLAKE2s-256 digest
export const AEAD_TAG_SIZE = 16; // Poly1305 tag
