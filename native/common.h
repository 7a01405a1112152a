// Shared helpers for the grantwire N-API addon: argument extraction and errno-carrying errors.
// Every exported function validates its arguments and throws a JS Error (with `code` = the errno name,
// e.g. "EPERM", and `errno` = the number) instead of crashing; nothing here ever aborts the process.
#pragma once

#include <node_api.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

namespace gw {

// Returns nullptr after throwing; callers `return nullptr` straight away.
inline napi_value ThrowErrno(napi_env env, const char* what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  const char* name = strerrorname_np(err);
  napi_value code_v, msg_v, error, errno_v;
  napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code_v);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &msg_v);
  napi_create_error(env, code_v, msg_v, &error);
  napi_create_int32(env, -err, &errno_v);
  napi_set_named_property(env, error, "errno", errno_v);
  napi_throw(env, error);
  return nullptr;
}

inline napi_value ThrowType(napi_env env, const char* msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return nullptr;
}

inline bool GetInt32(napi_env env, napi_value v, int32_t* out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return false;
  return napi_get_value_int32(env, v, out) == napi_ok;
}

// The native object behind a napi_external handle made by one of our create functions.
template <typename T>
inline bool GetExternal(napi_env env, napi_value v, T** out) {
  void* p = nullptr;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external) return false;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == nullptr) return false;
  *out = static_cast<T*>(p);
  return true;
}

inline bool GetBool(napi_env env, napi_value v, bool* out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_boolean) return false;
  return napi_get_value_bool(env, v, out) == napi_ok;
}

// Copies a JS string into `buf` (NUL-terminated); false if not a string or too long.
inline bool GetString(napi_env env, napi_value v, char* buf, size_t cap) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) return false;
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok || len + 1 > cap) return false;
  return napi_get_value_string_utf8(env, v, buf, cap, &len) == napi_ok;
}

// Any typed array: its data pointer and byte length; false if `v` is not a typed array.
inline bool GetBytes(napi_env env, napi_value v, uint8_t** data, size_t* bytes) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return false;
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  void* p = nullptr;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &type, &length, &p, &ab, &offset) != napi_ok) return false;
  size_t elem = 1;
  switch (type) {
    case napi_int16_array: case napi_uint16_array: elem = 2; break;
    case napi_int32_array: case napi_uint32_array: case napi_float32_array: elem = 4; break;
    case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: elem = 8; break;
    default: elem = 1;
  }
  *data = static_cast<uint8_t*>(p);
  *bytes = length * elem;
  return true;
}

inline napi_value Int(napi_env env, int64_t x) {
  napi_value v;
  napi_create_int64(env, x, &v);
  return v;
}

inline napi_value Undefined(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

inline void SetInt(napi_env env, napi_value obj, const char* key, int64_t x) {
  napi_set_named_property(env, obj, key, Int(env, x));
}

// Registration helpers, one per module file.
void RegisterTun(napi_env env, napi_value exports);
void RegisterNetlink(napi_env env, napi_value exports);
void RegisterUdp(napi_env env, napi_value exports);
void RegisterReader(napi_env env, napi_value exports);
void RegisterPeercred(napi_env env, napi_value exports);
void RegisterTunWriter(napi_env env, napi_value exports);
void RegisterAead(napi_env env, napi_value exports);
void RegisterOffload(napi_env env, napi_value exports);

inline void Export(napi_env env, napi_value exports, const char* name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn);
  napi_set_named_property(env, exports, name, fn);
}

}  // namespace gw
