// Batched readers driven by uv_poll on the event-loop thread: when the fd is readable, drain up to
// `slots` packets with nonblocking syscalls into caller-owned (preallocated) typed arrays, then make ONE
// JS call with the count. A TUN fd takes one read() per packet; a UDP socket takes one recvmmsg() per
// batch. Nothing touches the libuv threadpool, and nothing is allocated per packet.
//
// Invariants: the JS callback must finish with the batch before it returns (the next batch overwrites
// the arena). At most kMaxRounds full batches are delivered per poll wakeup so a flood on one fd cannot
// starve the rest of the loop (uv_poll is level-triggered and fires again).
#include "common.h"
#include "offload.h"

#include <netinet/in.h>
#include <netinet/udp.h>
#ifndef UDP_GRO
#define UDP_GRO 104  // linux/udp.h
#endif
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>
#include <stdlib.h>

namespace gw {

namespace {

const int kMaxRounds = 8;
enum Kind { kTun = 0, kUdp = 1, kTunVnet = 2, kUdpGro = 3 };
inline bool IsUdp(int kind) { return kind == kUdp || kind == kUdpGro; }
// UDP GRO (UDP_GRO sockopt): one recvmmsg() fills kGroMsgs big buffers, each possibly a run of datagrams
// from one source coalesced by the kernel (cmsg UDP_GRO = segment size), which are cut into the slots.
const uint32_t kGroMsgs = 8;
const size_t kGroBufSize = 65536;
const size_t kGroCmsgSpace = CMSG_SPACE(sizeof(int));
// One read from a vnet-header TUN: the virtio-net header and up to a 64 KiB super-segment.
const size_t kVnetScratch = kVnetHdrLen + 65536 + 256;

struct Reader {
  uv_poll_t poll;
  napi_env env;
  napi_ref cb_ref;
  napi_ref keep[4];  // arena, lens, addrs, ports: kept alive while the reader runs
  napi_async_context actx;
  int fd;
  Kind kind;
  bool closing;
  uint32_t slots, slot_size;
  uint8_t* arena;
  uint32_t* lens;
  uint8_t* addrs;   // 16 bytes per slot (UDP)
  uint16_t* ports;  // UDP
  struct mmsghdr* msgs;
  struct iovec* iovs;
  struct sockaddr_storage* names;
  uint64_t batches, packets, errors;
  // kTunVnet: the super-segment being split, carried over when a batch fills up before its last segment.
  uint8_t* scratch;
  uint32_t pend_len, pend_next;
  VnetHdr pend_hdr;
  uint64_t supers;  // reads that carried a GSO super-segment (TUN) or a GRO run of datagrams (UDP)
  // kUdpGro: messages received into the big buffers and how far they have been cut into slots.
  uint8_t* gro_bufs;
  uint8_t* gro_cmsg;
  uint32_t gro_count, gro_next, gro_off;
  uint16_t gro_seg[kGroMsgs];
  int owners;  // the uv handle (until its close callback) and the JS external (until finalized)
};

void Release(Reader* r) {
  if (--r->owners > 0) return;
  free(r->msgs);
  free(r->iovs);
  free(r->names);
  free(r->scratch);
  free(r->gro_bufs);
  free(r->gro_cmsg);
  delete r;
}

void OnFinalize(napi_env, void* data, void*) { Release(static_cast<Reader*>(data)); }

void OnClosed(uv_handle_t* h) { Release(reinterpret_cast<Reader*>(h)); }

void Stop(Reader* r) {
  if (r->closing) return;
  r->closing = true;
  uv_poll_stop(&r->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&r->poll), OnClosed);
}

void ReleaseRefs(Reader* r) {
  napi_delete_reference(r->env, r->cb_ref);
  for (napi_ref ref : r->keep) {
    if (ref) napi_delete_reference(r->env, ref);
  }
  napi_async_destroy(r->env, r->actx);
}

void OnEnvTeardown(void* arg) {
  Reader* r = static_cast<Reader*>(arg);
  Stop(r);
}

// Returns packets read (0 when nothing is pending or on error).
uint32_t ReadTun(Reader* r) {
  uint32_t n = 0;
  while (n < r->slots) {
    ssize_t k = read(r->fd, r->arena + (size_t)n * r->slot_size, r->slot_size);
    if (k < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) r->errors++;
      break;
    }
    if (k == 0) break;
    r->lens[n++] = (uint32_t)k;
  }
  return n;
}

// A vnet-header TUN: each read() returns a virtio-net header and one packet, possibly a TSO/USO
// super-segment, which is split here into MTU-sized packets in the arena's slots (offload.cc). A
// super-segment that does not fit in the slots left is finished in the next batch.
uint32_t ReadTunVnet(Reader* r) {
  uint32_t n = 0;
  while (n < r->slots) {
    if (r->pend_len > 0) {
      uint32_t total = 0;
      int k = GsoSplit(r->scratch + kVnetHdrLen, r->pend_len, r->pend_hdr, r->pend_next, r->arena + (size_t)n * r->slot_size,
                       r->slot_size, r->lens + n, r->slots - n, &total);
      if (k <= 0) {
        if (k < 0) r->errors++;  // malformed: dropped and counted
        r->pend_len = 0;         // (0 cannot happen with a free slot; never spin on it)
        continue;
      }
      n += (uint32_t)k;
      r->pend_next += (uint32_t)k;
      if (r->pend_next >= total) r->pend_len = 0;
      continue;
    }
    ssize_t k = read(r->fd, r->scratch, kVnetScratch);
    if (k < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) r->errors++;
      break;
    }
    if (k == 0) break;
    if (k <= (ssize_t)kVnetHdrLen) {
      r->errors++;
      continue;
    }
    ReadVnetHdr(r->scratch, &r->pend_hdr);
    if (r->pend_hdr.gso_type != kGsoNone) r->supers++;
    r->pend_len = (uint32_t)k - kVnetHdrLen;
    r->pend_next = 0;
  }
  return n;
}

// The source of a datagram as a 16-byte (v4-mapped for IPv4) address and port; false for other families.
bool PutAddr(const struct sockaddr_storage* ss, uint8_t* a, uint16_t* port) {
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6* s6 = reinterpret_cast<const struct sockaddr_in6*>(ss);
    memcpy(a, &s6->sin6_addr, 16);
    *port = ntohs(s6->sin6_port);
    return true;
  }
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in* s4 = reinterpret_cast<const struct sockaddr_in*>(ss);
    memset(a, 0, 10);
    a[10] = 0xff;
    a[11] = 0xff;
    memcpy(a + 12, &s4->sin_addr, 4);
    *port = ntohs(s4->sin_port);
    return true;
  }
  return false;
}

bool GroPending(const Reader* r) { return r->gro_next < r->gro_count; }

uint32_t ReadUdpGro(Reader* r) {
  uint32_t out = 0;
  while (out < r->slots) {
    if (!GroPending(r)) {
      for (uint32_t i = 0; i < kGroMsgs; i++) {
        struct msghdr* h = &r->msgs[i].msg_hdr;
        r->iovs[i].iov_base = r->gro_bufs + (size_t)i * kGroBufSize;
        r->iovs[i].iov_len = kGroBufSize;
        h->msg_iov = &r->iovs[i];
        h->msg_iovlen = 1;
        h->msg_name = &r->names[i];
        h->msg_namelen = sizeof(struct sockaddr_storage);
        h->msg_control = r->gro_cmsg + (size_t)i * kGroCmsgSpace;
        h->msg_controllen = kGroCmsgSpace;
        h->msg_flags = 0;
      }
      int got;
      do {
        got = recvmmsg(r->fd, r->msgs, kGroMsgs, MSG_DONTWAIT, nullptr);
      } while (got < 0 && errno == EINTR);
      if (got <= 0) {
        if (got < 0 && errno != EAGAIN) r->errors++;
        break;
      }
      for (int i = 0; i < got; i++) {
        struct msghdr* h = &r->msgs[i].msg_hdr;
        r->gro_seg[i] = 0;
        for (struct cmsghdr* c = CMSG_FIRSTHDR(h); c != nullptr; c = CMSG_NXTHDR(h, c)) {
          if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            int seg;
            memcpy(&seg, CMSG_DATA(c), sizeof seg);
            if (seg > 0 && seg < 65536) r->gro_seg[i] = (uint16_t)seg;
          }
        }
        if (r->gro_seg[i] != 0 && r->msgs[i].msg_len > r->gro_seg[i]) r->supers++;
      }
      r->gro_count = (uint32_t)got;
      r->gro_next = 0;
      r->gro_off = 0;
      continue;
    }
    uint32_t i = r->gro_next;
    struct msghdr* h = &r->msgs[i].msg_hdr;
    uint32_t total = r->msgs[i].msg_len;
    uint32_t seg = r->gro_seg[i] != 0 ? r->gro_seg[i] : total;
    uint32_t len = total - r->gro_off < seg ? total - r->gro_off : seg;
    if ((h->msg_flags & MSG_TRUNC) || len == 0 || !PutAddr(&r->names[i], r->addrs + 16 * out, r->ports + out)) {
      // Truncated (bigger than the buffer), empty, or an unknown family: the whole message goes.
      r->gro_next++;
      r->gro_off = 0;
      continue;
    }
    if (len > r->slot_size) {
      // One datagram bigger than a slot (never valid WireGuard): drop it, keep the rest of the run.
      r->gro_off += len;
      if (r->gro_off >= total) {
        r->gro_next++;
        r->gro_off = 0;
      }
      continue;
    }
    memcpy(r->arena + (size_t)out * r->slot_size, r->gro_bufs + (size_t)i * kGroBufSize + r->gro_off, len);
    r->lens[out++] = len;
    r->gro_off += len;
    if (r->gro_off >= total) {
      r->gro_next++;
      r->gro_off = 0;
    }
  }
  return out;
}

uint32_t ReadUdp(Reader* r) {
  for (uint32_t i = 0; i < r->slots; i++) {
    struct msghdr* h = &r->msgs[i].msg_hdr;
    r->iovs[i].iov_base = r->arena + (size_t)i * r->slot_size;
    r->iovs[i].iov_len = r->slot_size;
    h->msg_iov = &r->iovs[i];
    h->msg_iovlen = 1;
    h->msg_name = &r->names[i];
    h->msg_namelen = sizeof(struct sockaddr_storage);
    h->msg_control = nullptr;
    h->msg_controllen = 0;
    h->msg_flags = 0;
  }
  int got;
  do {
    got = recvmmsg(r->fd, r->msgs, r->slots, MSG_DONTWAIT, nullptr);
  } while (got < 0 && errno == EINTR);
  if (got <= 0) {
    if (got < 0 && errno != EAGAIN) r->errors++;
    return 0;
  }
  // Compact: drop truncated datagrams (bigger than a slot: never valid WireGuard) and unknown families.
  uint32_t out = 0;
  for (int i = 0; i < got; i++) {
    struct msghdr* h = &r->msgs[i].msg_hdr;
    if (h->msg_flags & MSG_TRUNC) continue;
    if (!PutAddr(&r->names[i], r->addrs + 16 * out, r->ports + out)) continue;
    if (out != (uint32_t)i) memmove(r->arena + (size_t)out * r->slot_size, r->arena + (size_t)i * r->slot_size, r->msgs[i].msg_len);
    r->lens[out] = r->msgs[i].msg_len;
    out++;
  }
  // A batch that compacts to zero ends this wakeup; level-triggered polling brings us back if more waits.
  return out;
}

void Deliver(Reader* r, uint32_t n) {
  napi_env env = r->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, recv, arg, result;
  napi_get_reference_value(env, r->cb_ref, &cb);
  napi_get_global(env, &recv);  // make_callback needs an object receiver
  napi_create_uint32(env, n, &arg);
  r->batches++;
  r->packets += n;
  // make_callback (not call_function) so that process.nextTick and microtasks queued by the handler,
  // e.g. the UDP send-queue flush, run before control returns to libuv.
  napi_status st = napi_make_callback(env, r->actx, recv, cb, 1, &arg, &result);
  if (st == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

void OnPoll(uv_poll_t* h, int status, int events) {
  Reader* r = reinterpret_cast<Reader*>(h);
  if (r->closing) return;
  if (status < 0) {
    r->errors++;
    return;
  }
  (void)events;
  // A split super-segment still pending is finished even past kMaxRounds: poll would not fire for it.
  // Likewise for UDP GRO messages received but not yet cut into slots.
  for (int round = 0; !r->closing && (round < kMaxRounds || r->pend_len > 0 || GroPending(r)); round++) {
    uint32_t n = r->kind == kTun ? ReadTun(r) : r->kind == kTunVnet ? ReadTunVnet(r) : r->kind == kUdpGro ? ReadUdpGro(r) : ReadUdp(r);
    if (n == 0) break;
    Deliver(r, n);
    if (n < r->slots && r->pend_len == 0 && !GroPending(r)) break;
  }
}

bool GetReader(napi_env env, napi_value v, Reader** out) { return GetExternal(env, v, out); }

}  // namespace

// readerCreate(kind: 0 tun | 1 udp | 2 tun with virtio-net header | 3 udp with UDP_GRO, fd, arena: Uint8Array, slotSize, lens: Uint32Array,
//              addrs: Uint8Array | null, ports: Uint16Array | null, onBatch: (count) => void) -> handle
// slots = lens.length; arena must hold slots * slotSize bytes; UDP needs addrs (16/slot) and ports.
static napi_value ReaderCreate(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int32_t kind, fd, slot_size;
  uint8_t *arena, *lens, *addrs = nullptr, *ports = nullptr;
  size_t arena_bytes, lens_bytes, addrs_bytes = 0, ports_bytes = 0;
  napi_valuetype cbt;
  if (argc < 8 || !GetInt32(env, argv[0], &kind) || (kind < kTun || kind > kUdpGro) || !GetInt32(env, argv[1], &fd) ||
      fd < 0 || !GetBytes(env, argv[2], &arena, &arena_bytes) || !GetInt32(env, argv[3], &slot_size) || slot_size < 1 ||
      !GetBytes(env, argv[4], &lens, &lens_bytes) || napi_typeof(env, argv[7], &cbt) != napi_ok || cbt != napi_function) {
    return ThrowType(env, "readerCreate(kind, fd, arena, slotSize, lens, addrs, ports, onBatch)");
  }
  uint32_t slots = (uint32_t)(lens_bytes / 4);
  if (slots == 0 || slots > 1024 || (size_t)slots * (size_t)slot_size > arena_bytes) {
    return ThrowType(env, "readerCreate: arena too small for lens.length slots (1..1024)");
  }
  if (IsUdp(kind)) {
    if (!GetBytes(env, argv[5], &addrs, &addrs_bytes) || !GetBytes(env, argv[6], &ports, &ports_bytes) ||
        addrs_bytes < 16 * (size_t)slots || ports_bytes < 2 * (size_t)slots) {
      return ThrowType(env, "readerCreate: a UDP reader needs addrs (16 bytes/slot) and ports (Uint16Array)");
    }
  }
  uv_loop_t* loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return ThrowType(env, "readerCreate: no event loop");
  Reader* r = new Reader();
  memset(static_cast<void*>(r), 0, sizeof *r);
  r->env = env;
  r->fd = fd;
  r->kind = (Kind)kind;
  r->slots = slots;
  r->slot_size = (uint32_t)slot_size;
  r->owners = 1;
  r->arena = arena;
  r->lens = reinterpret_cast<uint32_t*>(lens);
  r->addrs = addrs;
  r->ports = reinterpret_cast<uint16_t*>(ports);
  if (kind == kUdpGro) {
    // Ask the kernel for coalesced runs; a kernel without UDP_GRO gets the plain reader.
    int one = 1;
    if (setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one) < 0) r->kind = kUdp;
  }
  if (IsUdp(kind)) {
    uint32_t n = slots > kGroMsgs ? slots : kGroMsgs;
    r->msgs = static_cast<struct mmsghdr*>(calloc(n, sizeof(struct mmsghdr)));
    r->iovs = static_cast<struct iovec*>(calloc(n, sizeof(struct iovec)));
    r->names = static_cast<struct sockaddr_storage*>(calloc(n, sizeof(struct sockaddr_storage)));
  }
  if (r->kind == kUdpGro) {
    r->gro_bufs = static_cast<uint8_t*>(malloc(kGroMsgs * kGroBufSize));
    r->gro_cmsg = static_cast<uint8_t*>(calloc(kGroMsgs, kGroCmsgSpace));
  }
  if (kind == kTunVnet) r->scratch = static_cast<uint8_t*>(malloc(kVnetScratch));
  int rc = uv_poll_init(loop, &r->poll, fd);
  if (rc < 0) {
    free(r->msgs);
    free(r->iovs);
    free(r->names);
    free(r->scratch);
    free(r->gro_bufs);
    free(r->gro_cmsg);
    delete r;
    return ThrowErrno(env, "uv_poll_init", -rc);
  }
  napi_create_reference(env, argv[7], 1, &r->cb_ref);
  napi_create_reference(env, argv[2], 1, &r->keep[0]);
  napi_create_reference(env, argv[4], 1, &r->keep[1]);
  if (IsUdp(kind)) {
    napi_create_reference(env, argv[5], 1, &r->keep[2]);
    napi_create_reference(env, argv[6], 1, &r->keep[3]);
  }
  napi_value resource, name;
  napi_create_object(env, &resource);
  napi_create_string_utf8(env, !IsUdp(kind) ? "grantwire.tunReader" : "grantwire.udpReader", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, resource, name, &r->actx);
  rc = uv_poll_start(&r->poll, UV_READABLE, OnPoll);
  if (rc < 0) {
    ReleaseRefs(r);
    r->closing = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&r->poll), OnClosed);
    return ThrowErrno(env, "uv_poll_start", -rc);
  }
  napi_add_env_cleanup_hook(env, OnEnvTeardown, r);
  r->owners = 2;
  napi_value ext;
  napi_create_external(env, r, OnFinalize, nullptr, &ext);
  return ext;
}

// readerClose(handle): stops polling; the fd itself stays open (the owner closes it). Idempotent.
// The handle must not be used afterwards.
static napi_value ReaderClose(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  Reader* r;
  if (argc < 1 || !GetReader(env, argv[0], &r)) return ThrowType(env, "readerClose(handle)");
  if (r->closing) return Undefined(env);
  napi_remove_env_cleanup_hook(env, OnEnvTeardown, r);
  ReleaseRefs(r);
  Stop(r);
  return Undefined(env);
}

// readerStats(handle) -> { batches, packets, errors, supers, gro } (gro: UDP_GRO is on)
static napi_value ReaderStats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  Reader* r;
  if (argc < 1 || !GetReader(env, argv[0], &r)) return ThrowType(env, "readerStats(handle)");
  napi_value obj;
  napi_create_object(env, &obj);
  SetInt(env, obj, "batches", (int64_t)r->batches);
  SetInt(env, obj, "packets", (int64_t)r->packets);
  SetInt(env, obj, "errors", (int64_t)r->errors);
  SetInt(env, obj, "supers", (int64_t)r->supers);
  SetInt(env, obj, "gro", r->kind == kUdpGro ? 1 : 0);
  return obj;
}

void RegisterReader(napi_env env, napi_value exports) {
  Export(env, exports, "readerCreate", ReaderCreate);
  Export(env, exports, "readerClose", ReaderClose);
  Export(env, exports, "readerStats", ReaderStats);
}

}  // namespace gw
