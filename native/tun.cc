// TUN device: open /dev/net/tun as IFF_TUN | IFF_NO_PI (raw IP packets, no 4-byte packet-information
// header), nonblocking so that reads are driven by uv_poll (reader.cc) and never park a thread.
// The interface is not persistent: it disappears when the last fd is closed, which is what a
// foreground agent wants (a crash leaves nothing behind).
#include "common.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <stdio.h>

namespace gw {

// tunOpen(name: string) -> { fd, name }. `name` may be "" or a pattern like "gw%d" (kernel picks).
static napi_value TunOpen(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  char name[IFNAMSIZ + 1] = {0};
  if (argc < 1 || !GetString(env, argv[0], name, IFNAMSIZ)) return ThrowType(env, "tunOpen(name): name must be a string of at most 15 bytes");
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, "open /dev/net/tun", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  memcpy(ifr.ifr_name, name, strnlen(name, IFNAMSIZ - 1));
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "ioctl TUNSETIFF", err);
  }
  napi_value obj, name_v;
  napi_create_object(env, &obj);
  SetInt(env, obj, "fd", fd);
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

// tunWrite(fd, buf, off, len) -> bytes written, or -errno (EAGAIN when the queue is full: the packet
// is dropped, as a NIC would). One syscall per packet: a TUN fd without IFF_VNET_HDR takes one packet
// per write().
static napi_value TunWrite(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int32_t fd, off, len;
  uint8_t* data;
  size_t bytes;
  if (argc < 4 || !GetInt32(env, argv[0], &fd) || !GetBytes(env, argv[1], &data, &bytes) ||
      !GetInt32(env, argv[2], &off) || !GetInt32(env, argv[3], &len)) {
    return ThrowType(env, "tunWrite(fd, buf, off, len)");
  }
  if (off < 0 || len < 0 || (size_t)off + (size_t)len > bytes) return ThrowType(env, "tunWrite: range out of bounds");
  ssize_t n = write(fd, data + off, (size_t)len);
  return Int(env, n < 0 ? -errno : n);
}

void RegisterTun(napi_env env, napi_value exports) {
  Export(env, exports, "tunOpen", TunOpen);
  Export(env, exports, "fdClose", FdClose);
  Export(env, exports, "tunWrite", TunWrite);
}

}  // namespace gw
