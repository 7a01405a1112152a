// TUN device: open /dev/net/tun as IFF_TUN | IFF_NO_PI (raw IP packets, no 4-byte packet-information
// header), nonblocking so that reads are driven by uv_poll (reader.cc) and never park a thread.
// The interface is not persistent: it disappears when the last fd is closed, which is what a
// foreground agent wants (a crash leaves nothing behind).
#include "common.h"
#include "offload.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>
#include <stdio.h>

namespace gw {

namespace {

int OpenTun(const char* name, bool vnet, struct ifreq* ifr, int* err, const char** what) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    *err = errno;
    *what = "open /dev/net/tun";
    return -1;
  }
  memset(ifr, 0, sizeof *ifr);
  ifr->ifr_flags = IFF_TUN | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
  memcpy(ifr->ifr_name, name, strnlen(name, IFNAMSIZ - 1));
  if (ioctl(fd, TUNSETIFF, ifr) < 0) {
    *err = errno;
    *what = "ioctl TUNSETIFF";
    close(fd);
    return -1;
  }
  return fd;
}

// The offload sets tried in order, richest first: the kernel refuses a set with a feature it lacks
// (EINVAL), so each step drops the newest feature (USO needs both families; TSO needs CSUM).
const unsigned kOffloadSteps[] = {
    kTunFCsum | kTunFTso4 | kTunFTso6 | kTunFUso4 | kTunFUso6,
    kTunFCsum | kTunFTso4 | kTunFTso6,
    kTunFCsum | kTunFTso4,
    kTunFCsum,
};

}  // namespace

// tunOpen(name: string, offloads = 0) -> { fd, name, vnetHdr, offloads }. `name` may be "" or a pattern like
// "gw%d" (kernel picks). `offloads` is the TUN_F_* mask wanted; non-zero opens with IFF_VNET_HDR and keeps
// the richest subset TUNSETOFFLOAD accepts; when it accepts none, the fd is reopened without the vnet
// header (vnetHdr false, offloads 0), exactly as with `offloads` = 0.
static napi_value TunOpen(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  char name[IFNAMSIZ + 1] = {0};
  if (argc < 1 || !GetString(env, argv[0], name, IFNAMSIZ)) return ThrowType(env, "tunOpen(name): name must be a string of at most 15 bytes");
  int32_t wanted = 0;
  if (argc >= 2 && !GetInt32(env, argv[1], &wanted)) return ThrowType(env, "tunOpen(name, offloads): offloads must be an integer mask");
  struct ifreq ifr;
  int err = 0;
  const char* what = "open /dev/net/tun";
  unsigned got = 0;
  int fd = -1;
  if (wanted != 0) {
    fd = OpenTun(name, true, &ifr, &err, &what);
    if (fd >= 0) {
      for (unsigned step : kOffloadSteps) {
        unsigned want = step & (unsigned)wanted;
        if (want == 0 || (want & (kTunFUso4 | kTunFUso6)) == kTunFUso4 || (want & (kTunFUso4 | kTunFUso6)) == kTunFUso6) continue;
        if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)want) == 0) {
          got = want;
          break;
        }
      }
      if (got == 0) {
        close(fd);
        fd = -1;
      }
    }
  }
  if (fd < 0) fd = OpenTun(name, false, &ifr, &err, &what);
  if (fd < 0) return ThrowErrno(env, what, err);
  napi_value obj, name_v, vnet_v;
  napi_create_object(env, &obj);
  SetInt(env, obj, "fd", fd);
  SetInt(env, obj, "offloads", got);
  napi_get_boolean(env, got != 0, &vnet_v);
  napi_set_named_property(env, obj, "vnetHdr", vnet_v);
  napi_create_string_utf8(env, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ), &name_v);
  napi_set_named_property(env, obj, "name", name_v);
  return obj;
}

// fdClose(fd): closes a descriptor this addon returned. Errors are ignored (nothing useful to do).
static napi_value FdClose(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int32_t fd;
  if (argc < 1 || !GetInt32(env, argv[0], &fd) || fd < 0) return ThrowType(env, "fdClose(fd): fd must be a non-negative integer");
  close(fd);
  return Undefined(env);
}

// tunWrite(fd, buf, off, len, vnetHdr = false) -> bytes written, or -errno (EAGAIN when the queue is
// full: the packet is dropped, as a NIC would). One syscall per packet; on a vnet-header fd an all-zero
// virtio-net header (no GSO, checksum complete) goes first.
static napi_value TunWrite(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int32_t fd, off, len;
  uint8_t* data;
  size_t bytes;
  if (argc < 4 || !GetInt32(env, argv[0], &fd) || !GetBytes(env, argv[1], &data, &bytes) ||
      !GetInt32(env, argv[2], &off) || !GetInt32(env, argv[3], &len)) {
    return ThrowType(env, "tunWrite(fd, buf, off, len)");
  }
  if (off < 0 || len < 0 || (size_t)off + (size_t)len > bytes) return ThrowType(env, "tunWrite: range out of bounds");
  bool vnet = false;
  if (argc >= 5) GetBool(env, argv[4], &vnet);
  ssize_t n;
  if (vnet) {
    static const uint8_t zero[kVnetHdrLen] = {0};
    struct iovec iov[2] = {{const_cast<uint8_t*>(zero), kVnetHdrLen}, {data + off, (size_t)len}};
    n = writev(fd, iov, 2);
    if (n >= (ssize_t)kVnetHdrLen) n -= kVnetHdrLen;
  } else {
    n = write(fd, data + off, (size_t)len);
  }
  return Int(env, n < 0 ? -errno : n);
}

void RegisterTun(napi_env env, napi_value exports) {
  Export(env, exports, "tunOpen", TunOpen);
  Export(env, exports, "fdClose", FdClose);
  Export(env, exports, "tunWrite", TunWrite);
}

}  // namespace gw
