// socketpair/pipe/close for handing sockets and pipes to children, and mount/umount2 in the calling process's mount
// namespace (mounting is not a namespace change, so it is allowed in the live Node process; pivot_root/chroot are not).
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "addon.h"
#include "sys_ops.h"

namespace emperor {
namespace {

Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    return ThrowNativeError(info.Env(), errno, "socketpair");
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, Napi::Number::New(info.Env(), sv[0]));
  out.Set(1u, Napi::Number::New(info.Env(), sv[1]));
  return out;
}

// pipe(): [read end, write end], both close-on-exec (a child gets the write end through SpawnOptions.fds).
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return ThrowNativeError(info.Env(), errno, "pipe2");
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, Napi::Number::New(info.Env(), p[0]));
  out.Set(1u, Napi::Number::New(info.Env(), p[1]));
  return out;
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber()) return ThrowTypeError(info.Env(), "closeFd: fd must be a number");
  // close(2) must not be retried on EINTR on Linux: the fd is gone either way.
  if (close(info[0].As<Napi::Number>().Int32Value()) < 0 && errno != EINTR)
    return ThrowNativeError(info.Env(), errno, "close");
  return info.Env().Undefined();
}

// Optional string argument: undefined/null -> absent.
bool OptionalString(const Napi::Value& v, std::string* out) {
  if (v.IsUndefined() || v.IsNull()) return false;
  *out = v.As<Napi::String>().Utf8Value();
  return true;
}

bool StringOrNothing(const Napi::Value& v) { return v.IsString() || v.IsUndefined() || v.IsNull(); }

// mount(source|null, target, fstype|null, flags, data|null)
Napi::Value Mount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!StringOrNothing(info[0]) || !info[1].IsString() || !StringOrNothing(info[2]) || !info[3].IsNumber() ||
      !StringOrNothing(info[4]))
    return ThrowTypeError(env, "mount(source|null, target, fstype|null, flags, data|null)");
  std::string source, fstype, data;
  bool has_source = OptionalString(info[0], &source), has_fstype = OptionalString(info[2], &fstype),
       has_data = OptionalString(info[4], &data);
  std::string target = info[1].As<Napi::String>().Utf8Value();
  unsigned long flags = static_cast<unsigned long>(info[3].As<Napi::Number>().Int64Value());
  int r = sys_mount(has_source ? source.c_str() : nullptr, target.c_str(), has_fstype ? fstype.c_str() : nullptr, flags,
                    has_data ? data.c_str() : nullptr);
  if (r < 0) return ThrowNativeError(env, -r, "mount", target.c_str());
  return env.Undefined();
}

// umount(target, flags)
Napi::Value Umount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsNumber()) return ThrowTypeError(env, "umount: bad arguments");
  std::string target = info[0].As<Napi::String>().Utf8Value();
  int r = sys_umount2(target.c_str(), info[1].As<Napi::Number>().Int32Value());
  if (r < 0) return ThrowNativeError(env, -r, "umount2", target.c_str());
  return env.Undefined();
}

}  // namespace

void InitFdOps(Napi::Env env, Napi::Object exports) {
  exports.Set("socketpair", Napi::Function::New(env, SocketPair, "socketpair"));
  exports.Set("pipe", Napi::Function::New(env, Pipe, "pipe"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("mount", Napi::Function::New(env, Mount, "mount"));
  exports.Set("umount", Napi::Function::New(env, Umount, "umount"));
}

}  // namespace emperor
