// execve(2) in place, for the one re-exec the emperor makes of itself: the privilege drop of a capability-limited
// emperor goes through emperor-setpriv (a single-threaded C program) instead of changing credentials in this live,
// multithreaded Node process. The kernel ends Node's other threads at execve; libuv's fds are close-on-exec.
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "addon.h"

namespace emperor {
namespace {

bool StringArray(const Napi::Value& v, std::vector<std::string>* out) {
  if (!v.IsArray()) return false;
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value s = a.Get(i);
    if (!s.IsString()) return false;
    out->push_back(s.As<Napi::String>().Utf8Value());
  }
  return true;
}

std::vector<char*> Pointers(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(&s[0]);
  out.push_back(nullptr);
  return out;
}

// execve(file, argv[], env[]): returns only by throwing.
Napi::Value Execve(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<std::string> argv, envs;
  if (!info[0].IsString() || !StringArray(info[1], &argv) || !StringArray(info[2], &envs))
    return ThrowTypeError(env, "execve(file, argv: string[], env: string[])");
  std::string file = info[0].As<Napi::String>().Utf8Value();
  std::vector<char*> av = Pointers(argv), ev = Pointers(envs);
  // Node may have marked stdio close-on-exec; the new image must keep the same stdin, stdout and stderr
  for (int fd = 0; fd < 3; fd++) {
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0 && (flags & FD_CLOEXEC)) fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  }
  execve(file.c_str(), av.data(), ev.data());
  return ThrowNativeError(env, errno, "execve", file.c_str(), "execve");
}

}  // namespace

void InitExec(Napi::Env env, Napi::Object exports) {
  exports.Set("execve", Napi::Function::New(env, Execve, "execve"));
}

}  // namespace emperor
