// grantwire's native addon: the few things Node cannot do by itself on Linux.
//   tun.cc       open a TUN device (IFF_TUN | IFF_NO_PI, nonblocking), write packets, close fds
//   netlink.cc   link up/down + MTU, IPv4/IPv6 addresses and routes over rtnetlink
//   udp.cc       a dual-stack nonblocking UDP socket and a sendmmsg send queue
//   reader.cc    uv_poll-driven batched readers (TUN read() loop, UDP recvmmsg): one JS call per batch
//   peercred.cc  SO_PEERCRED of a unix-socket connection for the LocalAPI
//   tun-writer.cc  a TUN writer thread (SPSC ring) so kernel receive work overlaps with JS decryption
//   aead.cc      in-place ChaCha20-Poly1305 through the OpenSSL Node links (no per-packet objects)
// Everything runs on the event-loop thread; nothing uses the libuv threadpool.
#include "common.h"

static napi_value Init(napi_env env, napi_value exports) {
  gw::RegisterTun(env, exports);
  gw::RegisterNetlink(env, exports);
  gw::RegisterUdp(env, exports);
  gw::RegisterReader(env, exports);
  gw::RegisterPeercred(env, exports);
  gw::RegisterTunWriter(env, exports);
  gw::RegisterAead(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
