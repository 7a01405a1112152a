// UDP for the WireGuard bind: one dual-stack (IPV6_V6ONLY=0) nonblocking socket, so IPv4 peers appear as
// v4-mapped addresses, matching net/io.ts's 16-byte address fields. Falls back to a plain AF_INET socket when
// the host has IPv6 disabled. Sending goes through a queue flushed with sendmmsg (one syscall for a
// whole burst); consecutive equal-sized datagrams to the same peer are coalesced into one UDP GSO
// (UDP_SEGMENT) message when the kernel supports it, so the stack segments them in one pass.
// Receiving lives in reader.cc (recvmmsg driven by uv_poll).
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

namespace gw {

namespace {

const uint8_t kV4Mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
const size_t kGsoMaxBytes = 65000;  // below the 64 KiB IP limit with headers
const int kGsoMaxSegments = 64;     // UDP_MAX_SEGMENTS on current kernels

// Fills a sockaddr for a 16-byte address in the socket's family; false if not representable.
bool FillAddr(int family, const uint8_t* addr16, uint16_t port, struct sockaddr_storage* ss, socklen_t* len) {
  memset(ss, 0, sizeof(struct sockaddr_in6));
  if (family == AF_INET6) {
    struct sockaddr_in6* s6 = reinterpret_cast<struct sockaddr_in6*>(ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    memcpy(&s6->sin6_addr, addr16, 16);
    *len = sizeof *s6;
    return true;
  }
  if (memcmp(addr16, kV4Mapped, 12) != 0) return false;
  struct sockaddr_in* s4 = reinterpret_cast<struct sockaddr_in*>(ss);
  s4->sin_family = AF_INET;
  s4->sin_port = htons(port);
  memcpy(&s4->sin_addr, addr16 + 12, 4);
  *len = sizeof *s4;
  return true;
}

void SetBuf(int fd, int force_opt, int opt, int bytes) {
  if (bytes <= 0) return;
  // SO_*BUFFORCE ignores net.core.[rw]mem_max but needs CAP_NET_ADMIN; fall back to the capped option.
  if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof bytes) < 0) setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes);
}

struct Sender {
  int fd;
  int family;
  bool gso;
  uint32_t slots, slot_size, count;
  uint8_t* arena;
  uint32_t* lens;
  uint8_t* addrs;  // 16 per slot
  uint16_t* ports;
  struct mmsghdr* msgs;
  struct iovec* iovs;
  struct sockaddr_storage* names;
  char* cmsgs;  // CMSG_SPACE(sizeof(uint16_t)) per slot
  uint32_t* starts;  // queue index of each message's first datagram
  uint64_t sent, dropped, syscalls;
};

const size_t kCmsgSpace = CMSG_SPACE(sizeof(uint16_t));

void DestroySender(Sender* s) {
  free(s->arena);
  free(s->lens);
  free(s->addrs);
  free(s->ports);
  free(s->msgs);
  free(s->iovs);
  free(s->names);
  free(s->cmsgs);
  free(s->starts);
  delete s;
}


// Builds messages from queued datagrams [from, count) into msgs[m0...]; returns the total message count.
int Build(Sender* s, uint32_t from, int m0) {
  int m = m0;
  uint32_t i = from;
  while (i < s->count) {
    uint32_t j = i + 1;
    size_t total = s->lens[i];
    if (s->gso) {
      // Extend the run while the destination matches and every segment but the last has the first's size.
      while (j < s->count && (int)(j - i) < kGsoMaxSegments && s->lens[j - 1] == s->lens[i] &&
             s->lens[j] <= s->lens[i] && total + s->lens[j] <= kGsoMaxBytes && s->ports[j] == s->ports[i] &&
             memcmp(s->addrs + 16 * j, s->addrs + 16 * i, 16) == 0) {
        total += s->lens[j];
        j++;
      }
    }
    struct msghdr* h = &s->msgs[m].msg_hdr;
    memset(h, 0, sizeof *h);
    socklen_t nlen;
    if (!FillAddr(s->family, s->addrs + 16 * i, s->ports[i], &s->names[m], &nlen)) {
      s->dropped += j - i;
      i = j;
      continue;
    }
    s->starts[m] = i;
    h->msg_name = &s->names[m];
    h->msg_namelen = nlen;
    for (uint32_t k = i; k < j; k++) {
      s->iovs[k].iov_base = s->arena + (size_t)k * s->slot_size;
      s->iovs[k].iov_len = s->lens[k];
    }
    h->msg_iov = &s->iovs[i];
    h->msg_iovlen = j - i;
    if (j - i > 1) {
      char* c = s->cmsgs + (size_t)m * kCmsgSpace;
      memset(c, 0, kCmsgSpace);
      h->msg_control = c;
      h->msg_controllen = kCmsgSpace;
      struct cmsghdr* cm = CMSG_FIRSTHDR(h);
      cm->cmsg_level = SOL_UDP;
      cm->cmsg_type = UDP_SEGMENT;
      cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t seg = (uint16_t)s->lens[i];
      memcpy(CMSG_DATA(cm), &seg, sizeof seg);
    }
    m++;
    i = j;
  }
  return m;
}

// Sends everything queued. Returns 0 or a positive errno of the first hard failure.
int Flush(Sender* s) {
  if (s->count == 0) return 0;
  int m = Build(s, 0, 0);
  int done = 0, err = 0;
  while (done < m) {
    int n = sendmmsg(s->fd, s->msgs + done, (unsigned)(m - done), MSG_DONTWAIT);
    s->syscalls++;
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      if (s->gso && (err == EIO || err == EINVAL || err == ENOPROTOOPT || err == EOPNOTSUPP) &&
          s->msgs[done].msg_hdr.msg_controllen != 0) {
        // No UDP GSO here (old kernel, or a device that refuses it): switch it off and resend the rest
        // one datagram per message.
        s->gso = false;
        err = 0;
        m = Build(s, s->starts[done], done);
        continue;
      }
      // EAGAIN (socket buffer full), unreachable networks and the like: drop the message, as a lossy
      // link would; WireGuard and the tunnelled transport recover.
      s->dropped += s->msgs[done].msg_hdr.msg_iovlen;
      done++;
      continue;
    }
    for (int k = done; k < done + n; k++) s->sent += s->msgs[k].msg_hdr.msg_iovlen;
    done += n;
  }
  s->count = 0;
  return err;
}

Sender* NewSender(int fd, int family, uint32_t slots, uint32_t slot_size, bool gso) {
  Sender* s = new Sender();
  memset(s, 0, sizeof *s);
  s->fd = fd;
  s->family = family;
  s->gso = gso;
  s->slots = slots;
  s->slot_size = slot_size;
  s->arena = static_cast<uint8_t*>(malloc((size_t)slots * slot_size));
  s->lens = static_cast<uint32_t*>(calloc(slots, sizeof(uint32_t)));
  s->addrs = static_cast<uint8_t*>(calloc(slots, 16));
  s->ports = static_cast<uint16_t*>(calloc(slots, sizeof(uint16_t)));
  s->msgs = static_cast<struct mmsghdr*>(calloc(slots, sizeof(struct mmsghdr)));
  s->iovs = static_cast<struct iovec*>(calloc(slots, sizeof(struct iovec)));
  s->names = static_cast<struct sockaddr_storage*>(calloc(slots, sizeof(struct sockaddr_storage)));
  s->cmsgs = static_cast<char*>(calloc(slots, kCmsgSpace));
  s->starts = static_cast<uint32_t*>(calloc(slots, sizeof(uint32_t)));
  return s;
}

// Threaded mode: the event loop fills one batch while a sender thread runs sendmmsg on the batches
// submitted before it. The syscall (UDP send path, veth, and the receiving namespace's softirq work that
// runs inline) then overlaps with encryption. kBatches bounds what is in flight; when all are busy the
// producer waits (backpressure) rather than dropping.
const int kBatches = 4;

struct Handle {
  bool threaded;
  Sender* b[kBatches];
  int cur;
  bool free_[kBatches];
  int queue[kBatches];
  int qhead, qlen;
  bool stop, closed;
  std::mutex mu;
  std::condition_variable work, freed;
  std::thread thread;
};

void SenderThread(Handle* h) {
  std::unique_lock<std::mutex> lock(h->mu);
  for (;;) {
    while (h->qlen == 0 && !h->stop) h->work.wait(lock);
    if (h->qlen == 0 && h->stop) return;
    int i = h->queue[h->qhead];
    h->qhead = (h->qhead + 1) % kBatches;
    h->qlen--;
    lock.unlock();
    Flush(h->b[i]);
    lock.lock();
    h->free_[i] = true;
    h->freed.notify_one();
  }
}

// Hands the current batch to the thread and takes a free one (waiting if none is free).
void Submit(Handle* h) {
  if (h->b[h->cur]->count == 0) return;
  std::unique_lock<std::mutex> lock(h->mu);
  h->queue[(h->qhead + h->qlen) % kBatches] = h->cur;
  h->qlen++;
  h->work.notify_one();
  for (;;) {
    for (int j = 0; j < kBatches; j++) {
      if (h->free_[j]) {
        h->free_[j] = false;
        h->cur = j;
        return;
      }
    }
    h->freed.wait(lock);
  }
}

void FlushHandle(Handle* h) {
  if (h->threaded) Submit(h);
  else Flush(h->b[0]);
}

void CloseHandle(Handle* h) {
  if (h->closed) return;
  h->closed = true;
  if (!h->threaded) {
    Flush(h->b[0]);
    return;
  }
  Submit(h);
  {
    std::lock_guard<std::mutex> lock(h->mu);
    h->stop = true;
  }
  h->work.notify_one();
  if (h->thread.joinable()) h->thread.join();
}

void FreeHandle(napi_env, void* data, void*) {
  Handle* h = static_cast<Handle*>(data);
  CloseHandle(h);
  for (Sender* s : h->b) {
    if (s) DestroySender(s);
  }
  delete h;
}

bool GetHandle(napi_env env, napi_value v, Handle** out) { return GetExternal(env, v, out); }

}  // namespace

// udpOpen(port, rcvbuf, sndbuf) -> { fd, port, family: 6 | 4 }
static napi_value UdpOpen(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int32_t port, rcv, snd;
  if (argc < 3 || !GetInt32(env, argv[0], &port) || !GetInt32(env, argv[1], &rcv) || !GetInt32(env, argv[2], &snd) ||
      port < 0 || port > 65535) {
    return ThrowType(env, "udpOpen(port: 0..65535, rcvbuf: number, sndbuf: number)");
  }
  int family = AF_INET6;
  int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT)) {
    family = AF_INET;
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  }
  if (fd < 0) return ThrowErrno(env, "socket", errno);
  int zero = 0;
  if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  SetBuf(fd, SO_RCVBUFFORCE, SO_RCVBUF, rcv);
  SetBuf(fd, SO_SNDBUFFORCE, SO_SNDBUF, snd);
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len;
  if (family == AF_INET6) {
    struct sockaddr_in6* s6 = reinterpret_cast<struct sockaddr_in6*>(&ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    s6->sin6_addr = in6addr_any;
    len = sizeof *s6;
  } else {
    struct sockaddr_in* s4 = reinterpret_cast<struct sockaddr_in*>(&ss);
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    s4->sin_addr.s_addr = htonl(INADDR_ANY);
    len = sizeof *s4;
  }
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&ss), len) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "bind", err);
  }
  len = sizeof ss;
  getsockname(fd, reinterpret_cast<struct sockaddr*>(&ss), &len);
  uint16_t bound = family == AF_INET6 ? ntohs(reinterpret_cast<struct sockaddr_in6*>(&ss)->sin6_port)
                                      : ntohs(reinterpret_cast<struct sockaddr_in*>(&ss)->sin_port);
  napi_value obj;
  napi_create_object(env, &obj);
  SetInt(env, obj, "fd", fd);
  SetInt(env, obj, "port", bound);
  SetInt(env, obj, "family", family == AF_INET6 ? 6 : 4);
  return obj;
}

// udpSenderCreate(fd, family: 6|4, slots, slotSize, gso: boolean, threaded: boolean) -> queue handle.
static napi_value SenderCreate(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int32_t fd, fam, slots, slot_size;
  bool gso, threaded = false;
  if (argc < 5 || !GetInt32(env, argv[0], &fd) || !GetInt32(env, argv[1], &fam) || !GetInt32(env, argv[2], &slots) ||
      !GetInt32(env, argv[3], &slot_size) || !GetBool(env, argv[4], &gso) || (fam != 4 && fam != 6) || slots < 1 ||
      slots > 4096 || slot_size < 1 || slot_size > 65536 || (argc >= 6 && !GetBool(env, argv[5], &threaded))) {
    return ThrowType(env, "udpSenderCreate(fd, family: 4|6, slots: 1..4096, slotSize: 1..65536, gso: boolean, threaded: boolean)");
  }
  Handle* h = new Handle();
  h->threaded = threaded;
  int n = threaded ? kBatches : 1;
  for (int i = 0; i < kBatches; i++) {
    h->b[i] = i < n ? NewSender(fd, fam == 6 ? AF_INET6 : AF_INET, (uint32_t)slots, (uint32_t)slot_size, gso) : nullptr;
    h->free_[i] = i > 0 && i < n;
  }
  h->cur = 0;
  h->qhead = h->qlen = 0;
  h->stop = h->closed = false;
  if (threaded) h->thread = std::thread(SenderThread, h);
  napi_value ext;
  napi_create_external(env, h, FreeHandle, nullptr, &ext);
  return ext;
}

// udpQueue(sender, buf, off, len, addr16, port) -> datagrams queued. Copies the bytes (the caller reuses
// its buffer); flushes first when the queue is full. Oversized datagrams are dropped (-1).
static napi_value Queue(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  Handle* h;
  uint8_t *data, *addr;
  size_t bytes, abytes;
  int32_t off, len, port;
  if (argc < 6 || !GetHandle(env, argv[0], &h) || !GetBytes(env, argv[1], &data, &bytes) || !GetInt32(env, argv[2], &off) ||
      !GetInt32(env, argv[3], &len) || !GetBytes(env, argv[4], &addr, &abytes) || !GetInt32(env, argv[5], &port) ||
      abytes < 16 || off < 0 || len < 0 || (size_t)off + (size_t)len > bytes || port < 0 || port > 65535) {
    return ThrowType(env, "udpQueue(sender, buf, off, len, addr16, port)");
  }
  Sender* s = h->b[h->cur];
  if (h->closed || (uint32_t)len > s->slot_size) {
    s->dropped++;
    return Int(env, -1);
  }
  if (s->count == s->slots) {
    FlushHandle(h);
    s = h->b[h->cur];
  }
  uint32_t i = s->count++;
  memcpy(s->arena + (size_t)i * s->slot_size, data + off, (size_t)len);
  s->lens[i] = (uint32_t)len;
  memcpy(s->addrs + 16 * i, addr, 16);
  s->ports[i] = (uint16_t)port;
  return Int(env, s->count);
}

// udpFlush(sender) -> 0, or -errno of the first hard failure (the failed datagrams were dropped).
static napi_value FlushFn(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  Handle* h;
  if (argc < 1 || !GetHandle(env, argv[0], &h)) return ThrowType(env, "udpFlush(sender)");
  if (h->closed) return Int(env, 0);
  if (h->threaded) {
    Submit(h);
    return Int(env, 0);
  }
  return Int(env, -Flush(h->b[0]));
}

// udpSenderStats(sender) -> { sent, dropped, syscalls, gso }
static napi_value SenderStats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  Handle* h;
  if (argc < 1 || !GetHandle(env, argv[0], &h)) return ThrowType(env, "udpSenderStats(sender)");
  // Counters of batches the sender thread owns are read without a lock: approximate while running.
  uint64_t sent = 0, dropped = 0, syscalls = 0;
  bool gso = true;
  for (Sender* s : h->b) {
    if (!s) continue;
    sent += s->sent;
    dropped += s->dropped;
    syscalls += s->syscalls;
    gso = gso && s->gso;
  }
  napi_value obj, g;
  napi_create_object(env, &obj);
  SetInt(env, obj, "sent", (int64_t)sent);
  SetInt(env, obj, "dropped", (int64_t)dropped);
  SetInt(env, obj, "syscalls", (int64_t)syscalls);
  napi_get_boolean(env, gso, &g);
  napi_set_named_property(env, obj, "gso", g);
  return obj;
}

// udpSendTo(fd, family, buf, off, len, addr16, port) -> bytes sent or -errno: one immediate sendto,
// for callers that do not batch.
static napi_value SendTo(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int32_t fd, fam, off, len, port;
  uint8_t *data, *addr;
  size_t bytes, abytes;
  if (argc < 7 || !GetInt32(env, argv[0], &fd) || !GetInt32(env, argv[1], &fam) || !GetBytes(env, argv[2], &data, &bytes) ||
      !GetInt32(env, argv[3], &off) || !GetInt32(env, argv[4], &len) || !GetBytes(env, argv[5], &addr, &abytes) ||
      !GetInt32(env, argv[6], &port) || abytes < 16 || off < 0 || len < 0 || (size_t)off + (size_t)len > bytes ||
      port < 0 || port > 65535) {
    return ThrowType(env, "udpSendTo(fd, family, buf, off, len, addr16, port)");
  }
  struct sockaddr_storage ss;
  socklen_t sl;
  if (!FillAddr(fam == 6 ? AF_INET6 : AF_INET, addr, (uint16_t)port, &ss, &sl)) return Int(env, -EAFNOSUPPORT);
  ssize_t n = sendto(fd, data + off, (size_t)len, MSG_DONTWAIT, reinterpret_cast<struct sockaddr*>(&ss), sl);
  return Int(env, n < 0 ? -errno : n);
}

// udpSenderClose(sender): sends what is queued, stops the sender thread (threaded mode). Idempotent.
static napi_value SenderClose(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  Handle* h;
  if (argc < 1 || !GetHandle(env, argv[0], &h)) return ThrowType(env, "udpSenderClose(sender)");
  CloseHandle(h);
  return Undefined(env);
}

void RegisterUdp(napi_env env, napi_value exports) {
  Export(env, exports, "udpSenderClose", SenderClose);
  Export(env, exports, "udpOpen", UdpOpen);
  Export(env, exports, "udpSenderCreate", SenderCreate);
  Export(env, exports, "udpQueue", Queue);
  Export(env, exports, "udpFlush", FlushFn);
  Export(env, exports, "udpSenderStats", SenderStats);
  Export(env, exports, "udpSendTo", SendTo);
}

}  // namespace gw
