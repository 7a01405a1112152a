// A TUN writer thread. Writing a packet into a TUN device runs the kernel's receive path for it inside
// the write() call (netif_rx and, for TCP, the whole socket delivery and ACK generation), which the
// profile of `agent wg` showed as ~40% of the event-loop thread's busy time on the receiving side of a
// TCP transfer. Handing packets to a dedicated thread through a single-producer/single-consumer ring lets
// that kernel work overlap with decryption of the next packets on the event loop, as wireguard-go's
// separate TUN writer goroutine does.
//
// Producer: the event-loop thread (tunWriterWrite copies the packet into a free slot). Consumer: one
// std::thread doing blocking-style writes. A full ring makes the producer wait (up to kFullWaitMs) until
// the writer has drained it to three quarters: backpressure into the event loop, so the next datagrams
// wait in the UDP socket's receive buffer (megabytes) instead of being dropped here. Dropping was what
// every TCP retransmission through a receiving agent came from (bench:netstack: the 1024-slot ring
// overflowed under a window of ~1,100 segments on a loaded machine, 72–321 drops per 128 MiB stream, each
// one lost segment). A writer that makes no progress for kFullWaitMs (a wedged device) marks the ring
// stalled: writes then drop at once, as before, until it has room again. No allocation after creation.
//
// On a vnet-header TUN (IFF_VNET_HDR) every write carries a virtio-net header, and with `gro` set the
// thread merges runs of consecutive queued segments of one TCP (or, with USO, UDP) flow into one
// super-segment written with one writev() (offload.cc GroCoalesce): the kernel's receive path then runs
// once per run instead of once per segment. The packets were filtered one by one before they were queued.
#include "common.h"
#include "offload.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <stdlib.h>
#include <unistd.h>
#include <poll.h>
#include <sys/uio.h>

namespace gw {

namespace {

struct TunWriter {
  int fd;
  uint32_t slots, slot_size;
  uint8_t* arena;
  uint32_t* lens;
  std::atomic<uint64_t> head{0};  // next slot the producer fills
  std::atomic<uint64_t> tail{0};  // next slot the consumer writes
  std::atomic<bool> sleeping{false};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::condition_variable cv;
  std::thread thread;
  uint32_t gro = 0;    // kGroTcp | kGroUdp; 0 = no merging
  bool vnet = false;   // each write starts with a virtio-net header
  std::atomic<uint64_t> written{0}, errors{0}, merged{0}, writes{0};
  uint64_t dropped = 0;  // producer-side only
  uint64_t waits = 0;    // producer-side only: times the producer waited for room
  bool stalled = false;  // producer-side only: the last wait timed out
  std::atomic<bool> producer_waiting{false};
  std::condition_variable room;  // the writer signals it (under mu) when a waiting producer has room
  bool closed = false;
};

// The producer waits for room until the ring is at most this full (hysteresis: one wait frees a quarter
// of the ring rather than one slot), for at most kFullWaitMs.
const int kFullWaitMs = 100;
inline bool HasRoomAfterWait(TunWriter* w) {
  return w->head.load(std::memory_order_relaxed) - w->tail.load(std::memory_order_acquire) <= w->slots - w->slots / 4;
}

void Run(TunWriter* w) {
  uint8_t vhdr[kVnetHdrLen];
  struct iovec iov[kGroMaxSegs + 1];
  uint8_t* pkts[kGroMaxSegs];
  uint32_t plens[kGroMaxSegs];
  uint32_t hdr_lens[kGroMaxSegs];
  for (;;) {
    uint64_t t = w->tail.load(std::memory_order_relaxed);
    uint64_t h = w->head.load(std::memory_order_acquire);
    if (t == h) {
      std::unique_lock<std::mutex> lock(w->mu);
      w->sleeping.store(true, std::memory_order_seq_cst);
      // Re-check after announcing sleep: a producer that published before seeing `sleeping` is caught here.
      if (w->head.load(std::memory_order_seq_cst) == t && !w->stop.load()) w->cv.wait(lock);
      w->sleeping.store(false, std::memory_order_relaxed);
      if (w->stop.load() && w->head.load() == w->tail.load()) return;
      continue;
    }
    while (t != h) {
      uint32_t i = (uint32_t)(t % w->slots);
      uint8_t* p = w->arena + (size_t)i * w->slot_size;
      uint32_t k = 1;
      int iovcnt = 1;
      iov[0].iov_base = p;
      iov[0].iov_len = w->lens[i];
      if (w->vnet) {
        VnetHdr vh;
        memset(&vh, 0, sizeof vh);
        if (w->gro != 0) {
          uint32_t avail = (uint32_t)(h - t);
          uint32_t m = avail < kGroMaxSegs ? avail : kGroMaxSegs;
          for (uint32_t j = 0; j < m; j++) {
            uint32_t s = (uint32_t)((t + j) % w->slots);
            pkts[j] = w->arena + (size_t)s * w->slot_size;
            plens[j] = w->lens[s];
          }
          k = GroCoalesce(pkts, plens, m, w->gro, &vh, hdr_lens);
        }
        WriteVnetHdr(vh, vhdr);
        iov[0].iov_base = vhdr;
        iov[0].iov_len = kVnetHdrLen;
        iov[1].iov_base = p;
        iov[1].iov_len = plens[0] = w->lens[i];
        iovcnt = 2;
        for (uint32_t j = 1; j < k; j++, iovcnt++) {
          iov[iovcnt].iov_base = pkts[j] + hdr_lens[j];
          iov[iovcnt].iov_len = plens[j] - hdr_lens[j];
        }
      }
      for (;;) {
        ssize_t n = writev(w->fd, iov, iovcnt);
        if (n >= 0) {
          w->written.fetch_add(k, std::memory_order_relaxed);
          w->writes.fetch_add(1, std::memory_order_relaxed);
          if (k > 1) w->merged.fetch_add(k, std::memory_order_relaxed);
          break;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
          // The fd is nonblocking (the reader shares it); wait briefly for room instead of dropping.
          struct pollfd pfd = {w->fd, POLLOUT, 0};
          if (poll(&pfd, 1, 10) > 0) continue;
        }
        w->errors.fetch_add(k, std::memory_order_relaxed);
        break;
      }
      t += k;
      w->tail.store(t, std::memory_order_seq_cst);
      if (w->producer_waiting.load(std::memory_order_seq_cst) && HasRoomAfterWait(w)) {
        std::lock_guard<std::mutex> lock(w->mu);
        w->room.notify_one();
      }
    }
  }
}

const uint64_t kKickEvery = 32;

void Kick(TunWriter* w) {
  if (w->sleeping.load(std::memory_order_seq_cst)) {
    std::lock_guard<std::mutex> lock(w->mu);
    w->cv.notify_one();
  }
}

void Shutdown(TunWriter* w) {
  if (w->closed) return;
  w->closed = true;
  {
    std::lock_guard<std::mutex> lock(w->mu);
    w->stop.store(true);
  }
  w->cv.notify_one();
  if (w->thread.joinable()) w->thread.join();
}

// Called by the producer with a full ring: wakes the writer and waits until it has drained the ring to
// three quarters, or kFullWaitMs. Returns whether there is room now.
bool WaitForRoom(TunWriter* w) {
  if (w->stalled) return false;
  w->waits++;
  Kick(w);
  std::unique_lock<std::mutex> lock(w->mu);
  w->producer_waiting.store(true, std::memory_order_seq_cst);
  bool ok = w->room.wait_for(lock, std::chrono::milliseconds(kFullWaitMs), [w] { return HasRoomAfterWait(w); });
  w->producer_waiting.store(false, std::memory_order_relaxed);
  if (!ok) w->stalled = true;
  return ok;
}

void Finalize(napi_env, void* data, void*) {
  TunWriter* w = static_cast<TunWriter*>(data);
  Shutdown(w);
  free(w->arena);
  free(w->lens);
  delete w;
}

bool GetWriter(napi_env env, napi_value v, TunWriter** out) { return GetExternal(env, v, out); }

}  // namespace

// tunWriterCreate(fd, slots, slotSize, vnetHdr = false, gro = 0) -> handle. `gro`: 1 merge TCP, 2 merge
// UDP (needs USO on the TUN), 3 both; only with vnetHdr.
static napi_value Create(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int32_t fd, slots, slot_size;
  if (argc < 3 || !GetInt32(env, argv[0], &fd) || !GetInt32(env, argv[1], &slots) || !GetInt32(env, argv[2], &slot_size) ||
      fd < 0 || slots < 2 || slots > 65536 || slot_size < 64 || slot_size > 65536) {
    return ThrowType(env, "tunWriterCreate(fd, slots: 2..65536, slotSize: 64..65536)");
  }
  bool vnet = false;
  int32_t gro = 0;
  if (argc >= 4 && !GetBool(env, argv[3], &vnet)) return ThrowType(env, "tunWriterCreate: vnetHdr must be a boolean");
  if (argc >= 5 && (!GetInt32(env, argv[4], &gro) || gro < 0 || gro > 3)) return ThrowType(env, "tunWriterCreate: gro must be 0..3");
  TunWriter* w = new TunWriter();
  w->vnet = vnet;
  w->gro = vnet ? (uint32_t)gro : 0;
  w->fd = fd;
  w->slots = (uint32_t)slots;
  w->slot_size = (uint32_t)slot_size;
  w->arena = static_cast<uint8_t*>(malloc((size_t)slots * slot_size));
  w->lens = static_cast<uint32_t*>(calloc(slots, sizeof(uint32_t)));
  w->thread = std::thread(Run, w);
  napi_value ext;
  napi_create_external(env, w, Finalize, nullptr, &ext);
  return ext;
}

// tunWriterWrite(handle, buf, off, len) -> true if queued, false if dropped (ring full, too big, closed).
static napi_value Write(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  TunWriter* w;
  uint8_t* data;
  size_t bytes;
  int32_t off, len;
  if (argc < 4 || !GetWriter(env, argv[0], &w) || !GetBytes(env, argv[1], &data, &bytes) || !GetInt32(env, argv[2], &off) ||
      !GetInt32(env, argv[3], &len) || off < 0 || len < 0 || (size_t)off + (size_t)len > bytes) {
    return ThrowType(env, "tunWriterWrite(handle, buf, off, len)");
  }
  napi_value result;
  uint64_t h = w->head.load(std::memory_order_relaxed);
  bool full = h - w->tail.load(std::memory_order_acquire) >= w->slots;
  if (!w->closed && full) full = !WaitForRoom(w);
  else if (!full) w->stalled = false;
  if (w->closed || (uint32_t)len > w->slot_size || full) {
    w->dropped++;
    napi_get_boolean(env, false, &result);
    return result;
  }
  uint32_t i = (uint32_t)(h % w->slots);
  memcpy(w->arena + (size_t)i * w->slot_size, data + off, (size_t)len);
  w->lens[i] = (uint32_t)len;
  w->head.store(h + 1, std::memory_order_seq_cst);
  // Wake a sleeping writer only every kKickEvery packets here; the caller kicks once at the end of its
  // batch (tunWriterKick), so a burst costs one futex wake instead of one per packet.
  if ((h & (kKickEvery - 1)) == kKickEvery - 1) Kick(w);
  napi_get_boolean(env, true, &result);
  return result;
}

// tunWriterKick(handle): wakes the writer thread if it sleeps with packets queued.
static napi_value KickFn(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  TunWriter* w;
  if (argc < 1 || !GetWriter(env, argv[0], &w)) return ThrowType(env, "tunWriterKick(handle)");
  Kick(w);
  return Undefined(env);
}

// tunWriterStats(handle) -> { written, dropped, errors, queued, writes, merged, waits } (merged: packets
// that went out inside a super-segment; writes: syscalls; waits: times a full ring made the producer wait)
static napi_value Stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  TunWriter* w;
  if (argc < 1 || !GetWriter(env, argv[0], &w)) return ThrowType(env, "tunWriterStats(handle)");
  napi_value obj;
  napi_create_object(env, &obj);
  SetInt(env, obj, "written", (int64_t)w->written.load());
  SetInt(env, obj, "dropped", (int64_t)w->dropped);
  SetInt(env, obj, "errors", (int64_t)w->errors.load());
  SetInt(env, obj, "queued", (int64_t)(w->head.load() - w->tail.load()));
  SetInt(env, obj, "writes", (int64_t)w->writes.load());
  SetInt(env, obj, "merged", (int64_t)w->merged.load());
  SetInt(env, obj, "waits", (int64_t)w->waits);
  return obj;
}

// tunWriterClose(handle): drains what is queued, stops and joins the thread. Idempotent. The fd stays open.
static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  TunWriter* w;
  if (argc < 1 || !GetWriter(env, argv[0], &w)) return ThrowType(env, "tunWriterClose(handle)");
  Shutdown(w);
  return Undefined(env);
}

void RegisterTunWriter(napi_env env, napi_value exports) {
  Export(env, exports, "tunWriterCreate", Create);
  Export(env, exports, "tunWriterWrite", Write);
  Export(env, exports, "tunWriterStats", Stats);
  Export(env, exports, "tunWriterKick", KickFn);
  Export(env, exports, "tunWriterClose", Close);
}

}  // namespace gw
