#include <string.h>
#include <uv.h>

#include <string>

#include "addon.h"

namespace emperor {


Napi::Error NativeError(Napi::Env env, int err, const char* syscall, const char* path, const char* step) {
  // uv_err_name knows the usual names; glibc names the rest (and libuv answers "Unknown system error" for those).
  const char* code = uv_err_name(-err);
  if (!code || strncmp(code, "Unknown", 7) == 0) code = strerrorname_np(err);
  std::string name = code ? code : "E" + std::to_string(err);
  std::string message = name + ": " + strerror(err) + ", " + syscall;
  if (path) message += std::string(" '") + path + "'";
  if (step && strcmp(step, syscall) != 0) message += std::string(" (step ") + step + ")";
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", name);
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", syscall);
  if (path) e.Set("path", path);
  if (step) e.Set("step", step);
  return e;
}

Napi::Value ThrowNativeError(Napi::Env env, int err, const char* syscall, const char* path, const char* step) {
  NativeError(env, err, syscall, path, step).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowTypeError(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace emperor
