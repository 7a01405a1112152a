// A batch of ChaCha20-Poly1305 seals or opens split between the event loop and one worker thread, so
// the data path's crypto uses both cores. The call is synchronous: it returns when every job of the
// batch is done, so the JS side keeps its order (nonce assignment before, replay check, filter and TUN
// write after) exactly as with one packet per call; which thread ran a job cannot be observed.
//
// aeadBatch(open, mode, count, keys, srcs, outs, desc) -> jobs the worker ran
//   open   false = seal, true = open
//   mode   0 inline (event loop only), 1 split (both threads take jobs from one counter),
//          2 worker only (the event loop just waits; for tests, so the worker's contexts are exercised)
//   keys, srcs, outs   arrays of length >= count: aeadKey handles and typed arrays (srcs[i] may be outs[i])
//   desc   Int32Array, kDescStride per job: counter lo, counter hi (u32 bits), src offset, length,
//          padded length (seal; ignored by open), out offset, result (written: bytes out, or -1)
// Seal: srcs[i][off, +len) ‖ (padded - len) zeros → outs[i][outOff, +padded + 16). Open: srcs[i][off, +len)
// is ciphertext ‖ tag → outs[i][outOff, +len - 16), result -1 on a bad tag (output zeroed) or len < 16.
// Every range is checked on the event loop before any job starts; a bad one throws and nothing runs.
//
// Threads: the worker is one detached std::thread started by the first split batch and kept for the
// process (idle on a condition variable). It has its own two EVP contexts and keys them per job from
// AeadKey::raw; the event loop uses the key's own contexts. Keys and buffers stay referenced by the JS
// arrays for the whole call, which returns only after the worker has left the batch, so no handle needs
// a reference count. Batches from several JS threads (worker_threads) are serialized by one mutex.
#include "aead.h"

#include <sched.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace gw {

namespace {

constexpr int kDescStride = 8;
constexpr int kMaxJobs = 4096;
enum { kLo, kHi, kSrcOff, kLen, kPadded, kOutOff, kResult };

struct Job {
  AeadKey* key;
  const uint8_t* src;
  uint8_t* out;
  int len, padded;
  uint32_t lo, hi;
  int32_t* result;
};

struct Batch {
  Job* jobs;
  int n;
  bool open;
  std::atomic<int> next{0};
  std::atomic<int> active{0};  // worker inside Run
  std::atomic<int> by_worker{0};
};

std::mutex g_call_mu;  // one batch at a time, across JS threads
std::mutex g_mu;       // guards g_cur / g_gen
std::condition_variable g_cv;
Batch* g_cur = nullptr;
uint64_t g_gen = 0;
std::once_flag g_started;
std::atomic<int> g_worker_state{0};  // 0 starting, 1 ready, -1 no OpenSSL contexts (the event loop does all)
Job g_jobs[kMaxJobs];

void RunJob(const Job& j, bool open, EVP_CIPHER_CTX* enc, EVP_CIPHER_CTX* dec, bool worker) {
  const uint8_t* key = worker ? j.key->raw : nullptr;
  *j.result = open ? AeadOpenRaw(worker ? dec : j.key->dec, key, j.lo, j.hi, j.src, j.len, j.out)
                   : AeadSealRaw(worker ? enc : j.key->enc, key, j.lo, j.hi, j.src, j.len, j.padded, j.out);
}

int Run(Batch* b, EVP_CIPHER_CTX* enc, EVP_CIPHER_CTX* dec, bool worker) {
  int done = 0;
  for (;;) {
    int i = b->next.fetch_add(1, std::memory_order_relaxed);
    if (i >= b->n) return done;
    RunJob(b->jobs[i], b->open, enc, dec, worker);
    done++;
  }
}

void WorkerMain() {
  EVP_CIPHER_CTX* enc = EVP_CIPHER_CTX_new();
  EVP_CIPHER_CTX* dec = EVP_CIPHER_CTX_new();
  bool ok = enc && dec && EVP_EncryptInit_ex(enc, EVP_chacha20_poly1305(), nullptr, nullptr, nullptr) == 1 &&
            EVP_DecryptInit_ex(dec, EVP_chacha20_poly1305(), nullptr, nullptr, nullptr) == 1;
  g_worker_state.store(ok ? 1 : -1, std::memory_order_release);
  uint64_t seen = 0;
  for (;;) {
    Batch* b;
    {
      std::unique_lock<std::mutex> lk(g_mu);
      g_cv.wait(lk, [&] { return g_cur != nullptr && g_gen != seen; });
      seen = g_gen;
      b = g_cur;
      if (!ok) continue;  // never happens with Node's OpenSSL; the event loop then does every job
      b->active.fetch_add(1, std::memory_order_relaxed);
    }
    b->by_worker.fetch_add(Run(b, enc, dec, true), std::memory_order_relaxed);
    b->active.fetch_sub(1, std::memory_order_release);
  }
}

bool GetElement(napi_env env, napi_value arr, uint32_t i, napi_value* out) {
  return napi_get_element(env, arr, i, out) == napi_ok;
}

}  // namespace

static napi_value Batch_(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  bool open;
  int32_t mode, count;
  uint8_t* desc_bytes;
  size_t desc_len;
  bool a1, a2, a3;
  if (argc < 7 || !GetBool(env, argv[0], &open) || !GetInt32(env, argv[1], &mode) || mode < 0 || mode > 2 ||
      !GetInt32(env, argv[2], &count) || count < 0 || count > kMaxJobs || napi_is_array(env, argv[3], &a1) != napi_ok ||
      napi_is_array(env, argv[4], &a2) != napi_ok || napi_is_array(env, argv[5], &a3) != napi_ok || !a1 || !a2 || !a3 ||
      !GetBytes(env, argv[6], &desc_bytes, &desc_len) || desc_len < (size_t)count * kDescStride * 4 ||
      ((uintptr_t)desc_bytes & 3) != 0) {
    return ThrowType(env, "aeadBatch(open, mode 0|1|2, count <= 4096, keys[], srcs[], outs[], desc: Int32Array): bad arguments");
  }
  std::lock_guard<std::mutex> call(g_call_mu);
  int32_t* desc = reinterpret_cast<int32_t*>(desc_bytes);
  for (int i = 0; i < count; i++) {
    napi_value kv, sv, ov;
    int32_t* d = desc + i * kDescStride;
    Job& j = g_jobs[i];
    uint8_t *src, *out;
    size_t src_bytes, out_bytes;
    if (!GetElement(env, argv[3], i, &kv) || !GetAeadKey(env, kv, &j.key) || !GetElement(env, argv[4], i, &sv) ||
        !GetBytes(env, sv, &src, &src_bytes) || !GetElement(env, argv[5], i, &ov) || !GetBytes(env, ov, &out, &out_bytes)) {
      return ThrowType(env, "aeadBatch: keys[i] must be an aeadKey handle, srcs[i] and outs[i] typed arrays");
    }
    int32_t src_off = d[kSrcOff], len = d[kLen], padded = d[kPadded], out_off = d[kOutOff];
    int32_t out_len = open ? len - 16 : padded + 16;
    bool bad = src_off < 0 || len < 0 || out_off < 0 || (size_t)src_off + (size_t)len > src_bytes;
    if (!open) bad = bad || padded < len || padded - len > 15 + 65536;
    if (!bad && out_len > 0) bad = (size_t)out_off + (size_t)out_len > out_bytes;
    if (bad) return ThrowType(env, "aeadBatch: a job's offsets or lengths are outside its buffers");
    j.src = src + src_off;
    j.out = out + out_off;
    j.len = len;
    j.padded = padded;
    j.lo = (uint32_t)d[kLo];
    j.hi = (uint32_t)d[kHi];
    j.result = d + kResult;
  }
  Batch b;
  b.jobs = g_jobs;
  b.n = count;
  b.open = open;
  if (mode == 0 || count == 0) {
    Run(&b, nullptr, nullptr, false);
    return Int(env, 0);
  }
  std::call_once(g_started, [] { std::thread(WorkerMain).detach(); });
  {
    std::lock_guard<std::mutex> lk(g_mu);
    g_cur = &b;
    g_gen++;
  }
  g_cv.notify_one();
  if (mode == 1) Run(&b, nullptr, nullptr, false);
  else {
    // Worker only: wait until it has taken every job (it may still be running the last ones).
    for (int spins = 0; b.next.load(std::memory_order_relaxed) < count; spins++) {
      if (g_worker_state.load(std::memory_order_acquire) < 0) {
        Run(&b, nullptr, nullptr, false);
        break;
      }
      if (spins > 64) sched_yield();
    }
  }
  {
    std::lock_guard<std::mutex> lk(g_mu);
    g_cur = nullptr;  // from here on the worker cannot join this batch
  }
  for (int spins = 0; b.active.load(std::memory_order_acquire) != 0; spins++) {
    if (spins > 64) sched_yield();
  }
  return Int(env, b.by_worker.load(std::memory_order_relaxed));
}

void RegisterAeadBatch(napi_env env, napi_value exports) {
  Export(env, exports, "aeadBatch", Batch_);
}

}  // namespace gw
