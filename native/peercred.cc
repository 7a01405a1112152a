// SO_PEERCRED: the credentials (uid, gid, pid) the kernel recorded for the other end of a connected
// unix-domain socket when it connected. The LocalAPI uses the uid to decide write access; callers must
// fail closed (read-only) when this throws.
#include "common.h"

#include <sys/socket.h>
#include <sys/un.h>

namespace gw {

// peerCred(fd) -> { uid, gid, pid }; throws (code ENOTSOCK, ENOTCONN, ...) when unavailable.
static napi_value PeerCred(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int32_t fd;
  if (argc < 1 || !GetInt32(env, argv[0], &fd) || fd < 0) return ThrowType(env, "peerCred(fd): fd must be a non-negative integer");
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getsockname(fd, reinterpret_cast<struct sockaddr*>(&ss), &sl) < 0) return ThrowErrno(env, "getsockname", errno);
  // Only unix sockets carry meaningful credentials; refuse anything else rather than report zeros.
  if (ss.ss_family != AF_UNIX) return ThrowErrno(env, "peerCred: not a unix-domain socket", EAFNOSUPPORT);
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return ThrowErrno(env, "getsockopt SO_PEERCRED", errno);
  if (len != sizeof cred) return ThrowErrno(env, "getsockopt SO_PEERCRED: short reply", EPROTO);
  napi_value obj;
  napi_create_object(env, &obj);
  SetInt(env, obj, "uid", cred.uid);
  SetInt(env, obj, "gid", cred.gid);
  SetInt(env, obj, "pid", cred.pid);
  return obj;
}

void RegisterPeercred(napi_env env, napi_value exports) { Export(env, exports, "peerCred", PeerCred); }

}  // namespace gw
