// ChaCha20-Poly1305 (RFC 8439) for the transport data path, in place and without per-packet objects:
// node:crypto's createCipheriv allocates a Cipher (and its update() a Buffer) for every packet, which
// the profile of `agent wg` put at ~35% of the event loop's busy time plus GC. This uses the OpenSSL that
// Node itself links and exports (EVP_chacha20_poly1305), with one encrypt and one decrypt context per
// key: a packet only sets the nonce, runs update/final and reads or sets the tag.
//
// Nonce = 4 zero bytes ‖ counter as u64 little-endian (WireGuard). No associated data (transport).
// A key's two contexts are not thread-safe (they are reused); only the event loop uses them. The raw key
// is kept too, so aead-batch.cc's worker thread can run its own contexts on it.
#include "aead.h"

#include <openssl/crypto.h>

namespace gw {

namespace {

const uint8_t kZeros[16] = {0};

void FreeKey(napi_env, void* data, void*) {
  AeadKey* k = static_cast<AeadKey*>(data);
  EVP_CIPHER_CTX_free(k->enc);  // also cleanses the key schedule
  EVP_CIPHER_CTX_free(k->dec);
  OPENSSL_cleanse(k->raw, sizeof k->raw);
  delete k;
}

}  // namespace

bool GetAeadKey(napi_env env, napi_value v, AeadKey** out) {
  void* p = nullptr;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external) return false;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == nullptr) return false;
  *out = static_cast<AeadKey*>(p);
  return true;
}

namespace {

bool GetU32(napi_env env, napi_value v, uint32_t* out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return false;
  return napi_get_value_uint32(env, v, out) == napi_ok;
}

}  // namespace

void AeadNonce(uint8_t iv[12], uint32_t lo, uint32_t hi) {
  memset(iv, 0, 4);
  for (int i = 0; i < 4; i++) iv[4 + i] = (uint8_t)(lo >> (8 * i));
  for (int i = 0; i < 4; i++) iv[8 + i] = (uint8_t)(hi >> (8 * i));
}

int AeadSealRaw(EVP_CIPHER_CTX* ctx, const uint8_t* key, uint32_t lo, uint32_t hi, const uint8_t* src, int len, int padded, uint8_t* dst) {
  uint8_t iv[12];
  AeadNonce(iv, lo, hi);
  int n = 0;
  if (EVP_EncryptInit_ex(ctx, nullptr, nullptr, key, iv) != 1 || (len > 0 && EVP_EncryptUpdate(ctx, dst, &n, src, len) != 1)) return -1;
  for (int done = len; done < padded;) {
    int chunk = padded - done > 16 ? 16 : padded - done;
    if (EVP_EncryptUpdate(ctx, dst + done, &n, kZeros, chunk) != 1) return -1;
    done += chunk;
  }
  if (EVP_EncryptFinal_ex(ctx, dst + padded, &n) != 1 || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, dst + padded) != 1) return -1;
  return padded + 16;
}

int AeadOpenRaw(EVP_CIPHER_CTX* ctx, const uint8_t* key, uint32_t lo, uint32_t hi, const uint8_t* ct, int ct_len, uint8_t* out) {
  if (ct_len < 16) return -1;
  int plen = ct_len - 16;
  uint8_t iv[12];
  AeadNonce(iv, lo, hi);
  uint8_t tag[16];
  memcpy(tag, ct + plen, 16);  // copy first: in place, the plaintext never reaches the tag, but be safe
  int n = 0;
  if (EVP_DecryptInit_ex(ctx, nullptr, nullptr, key, iv) != 1 || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, tag) != 1 ||
      (plen > 0 && EVP_DecryptUpdate(ctx, out, &n, ct, plen) != 1)) {
    return -1;
  }
  if (EVP_DecryptFinal_ex(ctx, out + plen, &n) != 1) {
    memset(out, 0, (size_t)plen);  // do not leave unauthenticated plaintext behind
    return -1;
  }
  return plen;
}

// aeadKey(raw: 32 bytes) -> key handle
static napi_value Key(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  uint8_t* raw;
  size_t len;
  if (argc < 1 || !GetBytes(env, argv[0], &raw, &len) || len != 32) return ThrowType(env, "aeadKey(key: 32 bytes)");
  AeadKey* k = new AeadKey();
  memcpy(k->raw, raw, 32);
  k->enc = EVP_CIPHER_CTX_new();
  k->dec = EVP_CIPHER_CTX_new();
  uint8_t iv[12] = {0};
  if (!k->enc || !k->dec || EVP_EncryptInit_ex(k->enc, EVP_chacha20_poly1305(), nullptr, raw, iv) != 1 ||
      EVP_DecryptInit_ex(k->dec, EVP_chacha20_poly1305(), nullptr, raw, iv) != 1) {
    FreeKey(env, k, nullptr);
    return ThrowErrno(env, "aeadKey: OpenSSL chacha20-poly1305 unavailable", ENOSYS);
  }
  napi_value ext;
  napi_create_external(env, k, FreeKey, nullptr, &ext);
  return ext;
}

// aeadSeal(key, counterLo, counterHi, src, srcOff, len, paddedLen, out, outOff) -> paddedLen + 16.
// Encrypts src[srcOff, +len) followed by (paddedLen - len) zero bytes into out[outOff, ...) and appends
// the tag. src and out may be the same buffer at the same offset.
static napi_value Seal(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  AeadKey* k;
  uint32_t lo, hi;
  uint8_t *src, *out;
  size_t src_bytes, out_bytes;
  int32_t src_off, len, padded, out_off;
  if (argc < 9 || !GetAeadKey(env, argv[0], &k) || !GetU32(env, argv[1], &lo) || !GetU32(env, argv[2], &hi) ||
      !GetBytes(env, argv[3], &src, &src_bytes) || !GetInt32(env, argv[4], &src_off) || !GetInt32(env, argv[5], &len) ||
      !GetInt32(env, argv[6], &padded) || !GetBytes(env, argv[7], &out, &out_bytes) || !GetInt32(env, argv[8], &out_off) ||
      src_off < 0 || len < 0 || padded < len || padded - len > 15 + 65536 || out_off < 0 ||
      (size_t)src_off + (size_t)len > src_bytes || (size_t)out_off + (size_t)padded + 16 > out_bytes) {
    return ThrowType(env, "aeadSeal(key, lo, hi, src, srcOff, len, paddedLen, out, outOff): bad arguments or ranges");
  }
  if (AeadSealRaw(k->enc, nullptr, lo, hi, src + src_off, len, padded, out + out_off) < 0) return ThrowErrno(env, "aeadSeal", EIO);
  return Int(env, padded + 16);
}

// aeadOpen(key, counterLo, counterHi, msg, ctOff, ctLen, out, outOff) -> plaintext length (ctLen - 16),
// or -1 when authentication fails. msg[ctOff, +ctLen) is ciphertext ‖ tag. In place is allowed.
static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  AeadKey* k;
  uint32_t lo, hi;
  uint8_t *msg, *out;
  size_t msg_bytes, out_bytes;
  int32_t ct_off, ct_len, out_off;
  if (argc < 8 || !GetAeadKey(env, argv[0], &k) || !GetU32(env, argv[1], &lo) || !GetU32(env, argv[2], &hi) ||
      !GetBytes(env, argv[3], &msg, &msg_bytes) || !GetInt32(env, argv[4], &ct_off) || !GetInt32(env, argv[5], &ct_len) ||
      !GetBytes(env, argv[6], &out, &out_bytes) || !GetInt32(env, argv[7], &out_off) || ct_off < 0 || ct_len < 0 ||
      out_off < 0 || (size_t)ct_off + (size_t)ct_len > msg_bytes) {
    return ThrowType(env, "aeadOpen(key, lo, hi, msg, ctOff, ctLen, out, outOff): bad arguments or ranges");
  }
  if (ct_len >= 16 && (size_t)out_off + (size_t)(ct_len - 16) > out_bytes) return ThrowType(env, "aeadOpen: output too small");
  return Int(env, AeadOpenRaw(k->dec, nullptr, lo, hi, msg + ct_off, ct_len, out + out_off));
}

void RegisterAead(napi_env env, napi_value exports) {
  Export(env, exports, "aeadKey", Key);
  Export(env, exports, "aeadSeal", Seal);
  Export(env, exports, "aeadOpen", Open);
  RegisterAeadBatch(env, exports);
}

}  // namespace gw
