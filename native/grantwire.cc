// grantwire's native addon: the few things Node cannot do by itself on Linux.
//   tun.cc       open a TUN device (IFF_TUN | IFF_NO_PI, nonblocking), write packets, close fds
//   netlink.cc   link up/down + MTU, IPv4/IPv6 addresses and routes over rtnetlink
//   udp.cc       a dual-stack nonblocking UDP socket and a sendmmsg send queue
//   reader.cc    uv_poll-driven batched readers (TUN read() loop, UDP recvmmsg): one JS call per batch
//   peercred.cc  SO_PEERCRED of a unix-socket connection for the LocalAPI
//   tun-writer.cc  a TUN writer thread (SPSC ring) so kernel receive work overlaps with JS decryption
//   aead.cc      in-place ChaCha20-Poly1305 through the OpenSSL Node links (no per-packet objects)
//   aead-batch.cc  a batch of seals or opens split between the event loop and one worker thread
//   offload.cc   TUN offloads: split TSO/USO super-segments, coalesce segments into them (GRO);
//                offload-napi.cc exposes both to tests
// Threads: every N-API call and every JS callback (reader.cc's batches) runs on the event-loop thread, and
// nothing uses the libuv threadpool. Two files start threads of their own, which do only syscalls on
// memory handed over through their rings and never touch N-API or JS values:
//   tun-writer.cc  one std::thread per writer, write()ing packets from an SPSC ring into the TUN fd
//                  (merging runs of one flow into super-segments on a vnet-header TUN)
//   udp.cc         with udpSenderCreate(..., threaded = true), one std::thread per send queue running
//                  sendmmsg on submitted batches (at most 4 in flight; the event loop waits when all are)
// Each is stopped and joined by its close call (tunWriterClose, udpSenderClose) or its finalizer.
//   aead-batch.cc  one detached std::thread for the process, started by the first split batch, running
//                  ChaCha20-Poly1305 jobs with its own OpenSSL contexts while aeadBatch waits for it
//                  (synchronous: it never outlives the call's keys and buffers); idle on a condvar
#include "common.h"

static napi_value Init(napi_env env, napi_value exports) {
  gw::RegisterTun(env, exports);
  gw::RegisterNetlink(env, exports);
  gw::RegisterUdp(env, exports);
  gw::RegisterReader(env, exports);
  gw::RegisterPeercred(env, exports);
  gw::RegisterTunWriter(env, exports);
  gw::RegisterAead(env, exports);
  gw::RegisterOffload(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
