// WireGuard protocol constants in one place. Values restate wireguard-go `device/constants.go`, the
// kernel's `messages.h` and the WireGuard paper (see ../../shared/spec/wireguard.md). Protocol constants
// come first; implementation limits (queue sizes, batch sizes) are kept apart at the bottom.
import { AEAD_TAG_SIZE, KEY_SIZE } from '../crypto/sizes.js';

// --- Construction (paper §5.4, noise-protocol.go) ---
export const NOISE_CONSTRUCTION = 'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s';
export const WG_IDENTIFIER = 'WireGuard v1 zx2c4 Jason@zx2c4.com';
export const WG_LABEL_MAC1 = 'mac1----';
export const WG_LABEL_COOKIE = 'cookie--';

// --- Sizes ---
// The primitives' own sizes live with the primitives (crypto/sizes.ts); the layouts below derive from them.
export { AEAD_TAG_SIZE, HASH_SIZE, KEY_SIZE } from '../crypto/sizes.js';
export const MAC_SIZE = 16; // keyed BLAKE2s-128 (mac1, mac2, cookie)
export const COOKIE_SIZE = 16;
export const COOKIE_NONCE_SIZE = 24; // XChaCha20-Poly1305
export const TAI64N_SIZE = 12;

// --- Message types (u32 LE: type byte + 3 reserved zero bytes) ---
export const MESSAGE_INITIATION_TYPE = 1;
export const MESSAGE_RESPONSE_TYPE = 2;
export const MESSAGE_COOKIE_REPLY_TYPE = 3;
export const MESSAGE_TRANSPORT_TYPE = 4;

// --- Initiation layout (148 bytes) ---
export const INIT_OFF_SENDER = 4;
export const INIT_OFF_EPHEMERAL = 8;
export const INIT_OFF_STATIC = INIT_OFF_EPHEMERAL + KEY_SIZE; // 40
export const INIT_OFF_TIMESTAMP = INIT_OFF_STATIC + KEY_SIZE + AEAD_TAG_SIZE; // 88
export const INIT_OFF_MAC1 = INIT_OFF_TIMESTAMP + TAI64N_SIZE + AEAD_TAG_SIZE; // 116
export const INIT_OFF_MAC2 = INIT_OFF_MAC1 + MAC_SIZE; // 132
export const MESSAGE_INITIATION_SIZE = INIT_OFF_MAC2 + MAC_SIZE; // 148

// --- Response layout (92 bytes) ---
export const RESP_OFF_SENDER = 4;
export const RESP_OFF_RECEIVER = 8;
export const RESP_OFF_EPHEMERAL = 12;
export const RESP_OFF_EMPTY = RESP_OFF_EPHEMERAL + KEY_SIZE; // 44
export const RESP_OFF_MAC1 = RESP_OFF_EMPTY + AEAD_TAG_SIZE; // 60
export const RESP_OFF_MAC2 = RESP_OFF_MAC1 + MAC_SIZE; // 76
export const MESSAGE_RESPONSE_SIZE = RESP_OFF_MAC2 + MAC_SIZE; // 92

// --- Cookie reply layout (64 bytes) ---
export const COOKIE_OFF_RECEIVER = 4;
export const COOKIE_OFF_NONCE = 8;
export const COOKIE_OFF_COOKIE = COOKIE_OFF_NONCE + COOKIE_NONCE_SIZE; // 32
export const MESSAGE_COOKIE_REPLY_SIZE = COOKIE_OFF_COOKIE + COOKIE_SIZE + AEAD_TAG_SIZE; // 64

// --- Transport layout (16-byte header + ciphertext + tag) ---
export const TRANSPORT_OFF_RECEIVER = 4;
export const TRANSPORT_OFF_COUNTER = 8;
export const TRANSPORT_OFF_CONTENT = 16;
export const TRANSPORT_HEADER_SIZE = TRANSPORT_OFF_CONTENT;
export const MESSAGE_TRANSPORT_MIN_SIZE = TRANSPORT_HEADER_SIZE + AEAD_TAG_SIZE; // 32 = keepalive
export const KEEPALIVE_SIZE = MESSAGE_TRANSPORT_MIN_SIZE;
export const PADDING_MULTIPLE = 16;

// --- Counters (wireguard-go constants.go) ---
export const REKEY_AFTER_MESSAGES = 2 ** 60;
/** 2^64 − 2^13 − 1; as a double this rounds to 2^64, which only matters beyond 2^53 messages. */
export const REJECT_AFTER_MESSAGES = 2 ** 64 - 2 ** 13 - 1;

// --- Timers (milliseconds) ---
export const REKEY_AFTER_TIME_MS = 120_000;
export const REKEY_ATTEMPT_TIME_MS = 90_000;
export const REKEY_TIMEOUT_MS = 5_000;
export const REKEY_TIMEOUT_JITTER_MAX_MS = 334; // jitter is uniform in [0, 333]
export const MAX_TIMER_HANDSHAKES = REKEY_ATTEMPT_TIME_MS / REKEY_TIMEOUT_MS; // 18
export const REJECT_AFTER_TIME_MS = 180_000;
export const KEEPALIVE_TIMEOUT_MS = 10_000;
export const COOKIE_REFRESH_TIME_MS = 120_000;
export const HANDSHAKE_INITATION_RATE_MS = 20; // flood: min spacing of consumed initiations per peer
/** Initiator rekeys on receive once the keypair is this old: 180 − 10 − 5 = 165 s. */
export const REKEY_ON_RECEIVE_AGE_MS = REJECT_AFTER_TIME_MS - KEEPALIVE_TIMEOUT_MS - REKEY_TIMEOUT_MS;
/** newHandshake fires this long after sending data without hearing back: 10 + 5 = 15 s. */
export const NEW_HANDSHAKE_TIMEOUT_MS = KEEPALIVE_TIMEOUT_MS + REKEY_TIMEOUT_MS;
/** zeroKeyMaterial: 3 × REJECT_AFTER_TIME = 540 s. */
export const ZERO_KEY_MATERIAL_MS = REJECT_AFTER_TIME_MS * 3;

// --- Replay window (RFC 6479 ring; wireguard-go replay/replay.go) ---
export const REPLAY_BLOCK_BITS = 64;
export const REPLAY_RING_BLOCKS = 128;
export const REPLAY_WINDOW_SIZE = (REPLAY_RING_BLOCKS - 1) * REPLAY_BLOCK_BITS; // 8128

// --- Under load / rate limiting (wireguard-go constants.go, ratelimiter.go) ---
export const UNDER_LOAD_AFTER_TIME_MS = 1_000;
export const RATELIMIT_PACKETS_PER_SECOND = 20;
export const RATELIMIT_BURST = 5;

// --- Implementation limits (not protocol) ---
export const MAX_STAGED_PACKETS = 128;
export const HANDSHAKE_QUEUE_SIZE = 1024;
/** wireguard-go is "under load" while the handshake queue is ≥ 1/8 full. */
export const UNDER_LOAD_QUEUE_THRESHOLD = HANDSHAKE_QUEUE_SIZE / 8;
export const DEFAULT_MTU = 1420;
export const MAX_PEERS = 1 << 16;
