// Interface configuration over rtnetlink (NETLINK_ROUTE): link state and MTU, IPv4 and IPv6 addresses,
// routes. One request per call on a short-lived socket, acknowledged (NLM_F_ACK) so that the kernel's
// errno comes back to JS. Netlink is used rather than ioctl because it handles both families the same way
// (SIOCSIFADDR has no IPv6 form; in6_rtmsg routes lack table/protocol control).
#include "common.h"

#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>

namespace gw {

namespace {

// One request buffer: header, family-specific body, attributes. Accessed through pointers into `buf`
// so that appending attributes past the body stays within one object.
struct Request {
  alignas(NLMSG_ALIGNTO) char buf[512];
  struct nlmsghdr* nh() { return reinterpret_cast<struct nlmsghdr*>(buf); }
  template <typename T> T* body() { return static_cast<T*>(NLMSG_DATA(nh())); }
};

void AddAttr(Request* req, unsigned short type, const void* data, size_t len) {
  struct nlmsghdr* nh = req->nh();
  char* at = req->buf + NLMSG_ALIGN(nh->nlmsg_len);
  struct rtattr rta;
  rta.rta_type = type;
  rta.rta_len = (unsigned short)RTA_LENGTH(len);
  memcpy(at, &rta, sizeof rta);
  memcpy(at + RTA_LENGTH(0), data, len);
  nh->nlmsg_len = NLMSG_ALIGN(nh->nlmsg_len) + RTA_ALIGN(rta.rta_len);
}

// Sends one request and waits for its ACK. Returns 0 or a positive errno.
int Transact(struct nlmsghdr* nh) {
  static uint32_t seq = 0;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return errno;
  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  nh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  nh->nlmsg_seq = ++seq;
  if (sendto(fd, nh, nh->nlmsg_len, 0, reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) < 0) {
    int err = errno;
    close(fd);
    return err;
  }
  char buf[8192];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      return err;
    }
    for (struct nlmsghdr* r = reinterpret_cast<struct nlmsghdr*>(buf); NLMSG_OK(r, (unsigned)n); r = NLMSG_NEXT(r, n)) {
      if (r->nlmsg_seq != nh->nlmsg_seq) continue;
      if (r->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr* e = static_cast<struct nlmsgerr*>(NLMSG_DATA(r));
        close(fd);
        return -e->error;
      }
    }
  }
}

// Parses "a.b.c.d" or an IPv6 literal; returns the family or 0.
int ParseAddr(const char* s, uint8_t out[16]) {
  if (inet_pton(AF_INET, s, out) == 1) return AF_INET;
  if (inet_pton(AF_INET6, s, out) == 1) return AF_INET6;
  return 0;
}

bool IfIndex(napi_env env, napi_value v, int* index) {
  char name[IF_NAMESIZE + 1];
  if (!GetString(env, v, name, sizeof name)) return false;
  *index = (int)if_nametoindex(name);
  return true;
}

}  // namespace

// linkSet(name, up: boolean, mtu: number) ; mtu 0 leaves it unchanged.
static napi_value LinkSet(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int index;
  bool up;
  int32_t mtu;
  if (argc < 3 || !IfIndex(env, argv[0], &index) || !GetBool(env, argv[1], &up) || !GetInt32(env, argv[2], &mtu) || mtu < 0) {
    return ThrowType(env, "linkSet(name: string, up: boolean, mtu: number)");
  }
  if (index == 0) return ThrowErrno(env, "linkSet: no such interface", ENODEV);
  Request req;
  memset(&req, 0, sizeof req);
  req.nh()->nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
  req.nh()->nlmsg_type = RTM_NEWLINK;
  req.body<struct ifinfomsg>()->ifi_family = AF_UNSPEC;
  req.body<struct ifinfomsg>()->ifi_index = index;
  req.body<struct ifinfomsg>()->ifi_change = IFF_UP;
  req.body<struct ifinfomsg>()->ifi_flags = up ? IFF_UP : 0;
  if (mtu > 0) {
    uint32_t m = (uint32_t)mtu;
    AddAttr(&req, IFLA_MTU, &m, sizeof m);
  }
  int err = Transact(req.nh());
  if (err) return ThrowErrno(env, "netlink RTM_NEWLINK", err);
  return Undefined(env);
}

// Reads the (name, IP literal, prefixLen) arguments that address and route changes share; false when
// any is missing or malformed. The interface index is 0 when no such interface exists.
static bool GetIfPrefixArgs(napi_env env, napi_callback_info info, int* index, uint8_t addr[16], int* family,
                            int32_t* plen) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  char text[INET6_ADDRSTRLEN + 1];
  if (argc < 3 || !IfIndex(env, argv[0], index) || !GetString(env, argv[1], text, sizeof text) ||
      !GetInt32(env, argv[2], plen)) {
    return false;
  }
  *family = ParseAddr(text, addr);
  return *family != 0 && *plen >= 0 && *plen <= (*family == AF_INET ? 32 : 128);
}

// addrAdd(name, addr, prefixLen) / addrDel(name, addr, prefixLen). IPv6 addresses get IFA_F_NODAD:
// a tunnel has no link-layer neighbours to collide with, and DAD would keep the address tentative
// (unbindable) for a second after start.
static napi_value AddrChange(napi_env env, napi_callback_info info, bool add) {
  int index, family;
  int32_t plen;
  uint8_t addr[16];
  if (!GetIfPrefixArgs(env, info, &index, addr, &family, &plen)) {
    return ThrowType(env, "addrAdd/addrDel(name: string, addr: IP literal, prefixLen: number)");
  }
  if (index == 0) return ThrowErrno(env, "addr: no such interface", ENODEV);
  Request req;
  memset(&req, 0, sizeof req);
  req.nh()->nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
  req.nh()->nlmsg_type = add ? RTM_NEWADDR : RTM_DELADDR;
  req.nh()->nlmsg_flags = add ? (NLM_F_CREATE | NLM_F_REPLACE) : 0;
  req.body<struct ifaddrmsg>()->ifa_family = (unsigned char)family;
  req.body<struct ifaddrmsg>()->ifa_prefixlen = (unsigned char)plen;
  req.body<struct ifaddrmsg>()->ifa_index = (unsigned)index;
  req.body<struct ifaddrmsg>()->ifa_scope = RT_SCOPE_UNIVERSE;
  size_t alen = family == AF_INET ? 4 : 16;
  AddAttr(&req, IFA_LOCAL, addr, alen);
  AddAttr(&req, IFA_ADDRESS, addr, alen);
  if (family == AF_INET6) {
    req.body<struct ifaddrmsg>()->ifa_flags = IFA_F_NODAD;
    uint32_t flags = IFA_F_NODAD;
    AddAttr(&req, IFA_FLAGS, &flags, sizeof flags);
  }
  int err = Transact(req.nh());
  if (err) return ThrowErrno(env, add ? "netlink RTM_NEWADDR" : "netlink RTM_DELADDR", err);
  return Undefined(env);
}

static napi_value AddrAdd(napi_env env, napi_callback_info info) { return AddrChange(env, info, true); }
static napi_value AddrDel(napi_env env, napi_callback_info info) { return AddrChange(env, info, false); }

// routeAdd(name, dst, prefixLen) / routeDel(...): a link-scoped route in the main table through the
// interface. Add uses NLM_F_REPLACE so that re-applying a config is idempotent.
static napi_value RouteChange(napi_env env, napi_callback_info info, bool add) {
  int index, family;
  int32_t plen;
  uint8_t addr[16];
  if (!GetIfPrefixArgs(env, info, &index, addr, &family, &plen)) {
    return ThrowType(env, "routeAdd/routeDel(name: string, dst: IP literal, prefixLen: number)");
  }
  if (index == 0) return ThrowErrno(env, "route: no such interface", ENODEV);
  Request req;
  memset(&req, 0, sizeof req);
  req.nh()->nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
  req.nh()->nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
  req.nh()->nlmsg_flags = add ? (NLM_F_CREATE | NLM_F_REPLACE) : 0;
  req.body<struct rtmsg>()->rtm_family = (unsigned char)family;
  req.body<struct rtmsg>()->rtm_dst_len = (unsigned char)plen;
  req.body<struct rtmsg>()->rtm_table = RT_TABLE_MAIN;
  req.body<struct rtmsg>()->rtm_protocol = RTPROT_BOOT;
  req.body<struct rtmsg>()->rtm_scope = RT_SCOPE_LINK;
  req.body<struct rtmsg>()->rtm_type = RTN_UNICAST;
  if (plen > 0) AddAttr(&req, RTA_DST, addr, family == AF_INET ? 4 : 16);
  uint32_t oif = (uint32_t)index;
  AddAttr(&req, RTA_OIF, &oif, sizeof oif);
  int err = Transact(req.nh());
  if (err) return ThrowErrno(env, add ? "netlink RTM_NEWROUTE" : "netlink RTM_DELROUTE", err);
  return Undefined(env);
}

static napi_value RouteAdd(napi_env env, napi_callback_info info) { return RouteChange(env, info, true); }
static napi_value RouteDel(napi_env env, napi_callback_info info) { return RouteChange(env, info, false); }

// ifIndex(name) -> index, 0 if there is no such interface.
static napi_value IfIndexFn(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int index;
  if (argc < 1 || !IfIndex(env, argv[0], &index)) return ThrowType(env, "ifIndex(name: string)");
  return Int(env, index);
}

void RegisterNetlink(napi_env env, napi_value exports) {
  Export(env, exports, "linkSet", LinkSet);
  Export(env, exports, "addrAdd", AddrAdd);
  Export(env, exports, "addrDel", AddrDel);
  Export(env, exports, "routeAdd", RouteAdd);
  Export(env, exports, "routeDel", RouteDel);
  Export(env, exports, "ifIndex", IfIndexFn);
}

}  // namespace gw
