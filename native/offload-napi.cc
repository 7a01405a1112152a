// N-API entry points for offload.cc, used by tests and benchmarks to drive the split and the coalescing
// exactly as the TUN reader and writer threads do, on packets built in JS.
#include "common.h"
#include "offload.h"

namespace gw {

// gsoSplit(pkt, len, vnetHdr: 10 bytes, firstSeg, arena, slotSize, lens: Uint32Array) -> { count, total }
// count -1: malformed (the reader drops it and counts an error).
static napi_value GsoSplitFn(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  uint8_t *pkt, *vh, *arena, *lens;
  size_t pkt_bytes, vh_bytes, arena_bytes, lens_bytes;
  int32_t len, first, slot_size;
  if (argc < 7 || !GetBytes(env, argv[0], &pkt, &pkt_bytes) || !GetInt32(env, argv[1], &len) || !GetBytes(env, argv[2], &vh, &vh_bytes) ||
      !GetInt32(env, argv[3], &first) || !GetBytes(env, argv[4], &arena, &arena_bytes) || !GetInt32(env, argv[5], &slot_size) ||
      !GetBytes(env, argv[6], &lens, &lens_bytes) || len < 0 || (size_t)len > pkt_bytes || vh_bytes < kVnetHdrLen || first < 0 ||
      slot_size < 1) {
    return ThrowType(env, "gsoSplit(pkt, len, vnetHdr, firstSeg, arena, slotSize, lens)");
  }
  uint32_t slots = (uint32_t)(lens_bytes / 4);
  if ((size_t)slots * (size_t)slot_size > arena_bytes) slots = (uint32_t)(arena_bytes / (size_t)slot_size);
  VnetHdr h;
  ReadVnetHdr(vh, &h);
  uint32_t total = 0;
  int n = GsoSplit(pkt, (uint32_t)len, h, (uint32_t)first, arena, (uint32_t)slot_size, reinterpret_cast<uint32_t*>(lens), slots, &total);
  napi_value obj;
  napi_create_object(env, &obj);
  SetInt(env, obj, "count", n);
  SetInt(env, obj, "total", total);
  return obj;
}

// groCoalesce(arena, slotSize, lens, count, mode, out, outLens) -> outputs. Walks the packets in order as
// the TUN writer thread does; each output is a 10-byte virtio-net header followed by the (possibly merged)
// IP packet, written back to back into `out` with its length in outLens. Rewrites headers in `arena`.
// Returns -1 when `out` or outLens is too small.
static napi_value GroCoalesceFn(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  uint8_t *arena, *lens_b, *out, *out_lens_b;
  size_t arena_bytes, lens_bytes, out_bytes, out_lens_bytes;
  int32_t slot_size, count, mode;
  if (argc < 7 || !GetBytes(env, argv[0], &arena, &arena_bytes) || !GetInt32(env, argv[1], &slot_size) ||
      !GetBytes(env, argv[2], &lens_b, &lens_bytes) || !GetInt32(env, argv[3], &count) || !GetInt32(env, argv[4], &mode) ||
      !GetBytes(env, argv[5], &out, &out_bytes) || !GetBytes(env, argv[6], &out_lens_b, &out_lens_bytes) || slot_size < 1 || count < 0 ||
      (size_t)count * 4 > lens_bytes || (size_t)count * (size_t)slot_size > arena_bytes || mode < 0 || mode > 3) {
    return ThrowType(env, "groCoalesce(arena, slotSize, lens, count, mode, out, outLens)");
  }
  const uint32_t* lens = reinterpret_cast<const uint32_t*>(lens_b);
  uint32_t* out_lens = reinterpret_cast<uint32_t*>(out_lens_b);
  for (int32_t i = 0; i < count; i++) {
    if (lens[i] > (uint32_t)slot_size) return ThrowType(env, "groCoalesce: a length exceeds slotSize");
  }
  uint8_t* pkts[kGroMaxSegs];
  uint32_t plens[kGroMaxSegs], hdr_lens[kGroMaxSegs];
  size_t pos = 0;
  uint32_t outputs = 0;
  for (int32_t i = 0; i < count;) {
    uint32_t m = (uint32_t)(count - i) < kGroMaxSegs ? (uint32_t)(count - i) : kGroMaxSegs;
    for (uint32_t j = 0; j < m; j++) {
      pkts[j] = arena + (size_t)(i + j) * slot_size;
      plens[j] = lens[i + j];
    }
    VnetHdr h;
    uint32_t k = GroCoalesce(pkts, plens, m, (uint32_t)mode, &h, hdr_lens);
    size_t need = kVnetHdrLen + plens[0];
    for (uint32_t j = 1; j < k; j++) need += plens[j] - hdr_lens[j];
    if (pos + need > out_bytes || (size_t)(outputs + 1) * 4 > out_lens_bytes) return Int(env, -1);
    WriteVnetHdr(h, out + pos);
    size_t at = pos + kVnetHdrLen;
    memcpy(out + at, pkts[0], plens[0]);
    at += plens[0];
    for (uint32_t j = 1; j < k; j++) {
      memcpy(out + at, pkts[j] + hdr_lens[j], plens[j] - hdr_lens[j]);
      at += plens[j] - hdr_lens[j];
    }
    out_lens[outputs++] = (uint32_t)need;
    pos = at;
    i += (int32_t)k;
  }
  return Int(env, outputs);
}

void RegisterOffload(napi_env env, napi_value exports) {
  Export(env, exports, "gsoSplit", GsoSplitFn);
  Export(env, exports, "groCoalesce", GroCoalesceFn);
}

}  // namespace gw
