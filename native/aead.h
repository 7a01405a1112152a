// The AEAD key handle shared by aead.cc (one packet per call) and aead-batch.cc (a batch split between
// the event loop and a worker thread). ChaCha20-Poly1305, WireGuard's nonce (4 zero bytes ‖ u64 LE).
#pragma once

#include "common.h"

#include <openssl/evp.h>

namespace gw {

struct AeadKey {
  EVP_CIPHER_CTX* enc;  // event-loop thread only
  EVP_CIPHER_CTX* dec;  // event-loop thread only
  uint8_t raw[32];      // read-only after creation: other threads key their own contexts with it
};

bool GetAeadKey(napi_env env, napi_value v, AeadKey** out);
void AeadNonce(uint8_t iv[12], uint32_t lo, uint32_t hi);
// ctx must already be set up for chacha20-poly1305 in the right direction. key null = keep ctx's key.
// Seal: src[0,len) then (padded - len) zero bytes → dst[0, padded) ‖ tag; padded + 16, or -1 (OpenSSL
// failure). In place allowed.
int AeadSealRaw(EVP_CIPHER_CTX* ctx, const uint8_t* key, uint32_t lo, uint32_t hi, const uint8_t* src, int len, int padded, uint8_t* dst);
// Open: ct[0, ct_len) is ciphertext ‖ tag → out[0, ct_len - 16); plaintext length, or -1 (too short,
// bad tag; the output is zeroed). In place allowed.
int AeadOpenRaw(EVP_CIPHER_CTX* ctx, const uint8_t* key, uint32_t lo, uint32_t hi, const uint8_t* ct, int ct_len, uint8_t* out);

void RegisterAeadBatch(napi_env env, napi_value exports);

}  // namespace gw
