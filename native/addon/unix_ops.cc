// The two unix-socket calls the emperor's operations need and Node lacks: a datagram to a named AF_UNIX socket
// (sd_notify's NOTIFY_SOCKET; Node has no unix datagram sockets) and the kernel's word on who is at the other end
// of a connected stream (SO_PEERCRED, for the control socket). Neither blocks.
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

#include "addon.h"
#include "unique_fd.h"

namespace emperor {
namespace {

// sendDatagram(path, data: Buffer): one datagram to the AF_UNIX SOCK_DGRAM socket at path ('@name': abstract).
// MSG_DONTWAIT: a receiver that does not read costs an EAGAIN, never a wait.
Napi::Value SendDatagram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsBuffer())
    return ThrowTypeError(env, "sendDatagram(path: string, data: Buffer)");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  Napi::Buffer<uint8_t> data = info[1].As<Napi::Buffer<uint8_t>>();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path))
    return ThrowNativeError(env, EINVAL, "sendto", path.c_str());
  memcpy(addr.sun_path, path.data(), path.size());
  if (path[0] == '@') addr.sun_path[0] = '\0';
  socklen_t len = socklen_t(offsetof(sockaddr_un, sun_path) + path.size() + (path[0] == '@' ? 0 : 1));
  UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return ThrowNativeError(env, errno, "socket");
  ssize_t r;
  do {
    r = sendto(fd.get(), data.Data(), data.Length(), MSG_DONTWAIT | MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
               len);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return ThrowNativeError(env, errno, "sendto", path.c_str());
  return env.Undefined();
}

// peerCredentials(fd): { pid, uid, gid } of the process that connected the unix stream socket fd, as the kernel
// recorded them at connect().
Napi::Value PeerCredentials(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) return ThrowTypeError(env, "peerCredentials(fd: number)");
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(info[0].As<Napi::Number>().Int32Value(), SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
    return ThrowNativeError(env, errno, "getsockopt");
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, cred.pid));
  out.Set("uid", Napi::Number::New(env, cred.uid));
  out.Set("gid", Napi::Number::New(env, cred.gid));
  return out;
}

}  // namespace

void InitUnixOps(Napi::Env env, Napi::Object exports) {
  exports.Set("sendDatagram", Napi::Function::New(env, SendDatagram, "sendDatagram"));
  exports.Set("peerCredentials", Napi::Function::New(env, PeerCredentials, "peerCredentials"));
}

}  // namespace emperor
