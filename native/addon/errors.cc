#include <string.h>
#include <uv.h>

#include <string>

#include "addon.h"

namespace emperor {
namespace {

// setErrorClass(NativeError): src/native.ts calls it once, right after loading the addon, so that every error the
// addon makes is an instance of the exported class (`instanceof NativeError` holds).
Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) return ThrowTypeError(info.Env(), "setErrorClass(NativeError)");
  info.Env().GetInstanceData<AddonData>()->error_class = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

}  // namespace

Napi::Object NativeError(Napi::Env env, int err, const char* syscall, const char* path, const char* step) {
  // uv_err_name knows the usual names; glibc names the rest (and libuv answers "Unknown system error" for those).
  const char* code = uv_err_name(-err);
  if (!code || strncmp(code, "Unknown", 7) == 0) code = strerrorname_np(err);
  std::string name = code ? code : "E" + std::to_string(err);
  std::string message = name + ": " + strerror(err) + ", " + syscall;
  if (path) message += std::string(" '") + path + "'";
  if (step && strcmp(step, syscall) != 0) message += std::string(" (step ") + step + ")";
  Napi::Object fields = Napi::Object::New(env);
  fields.Set("code", name);
  fields.Set("errno", Napi::Number::New(env, -err));
  fields.Set("syscall", syscall);
  if (path) fields.Set("path", path);
  if (step) fields.Set("step", step);
  Napi::FunctionReference& cls = env.GetInstanceData<AddonData>()->error_class;
  // Only src/native.ts loads the addon, and it hands the class over first: anything else is a build mistake.
  if (cls.IsEmpty())
    Napi::Error::Fatal("emperor NativeError", "setErrorClass() was not called: load the addon through src/native.ts");
  return cls.New({Napi::String::New(env, message), fields});
}

Napi::Value ThrowNativeError(Napi::Env env, int err, const char* syscall, const char* path, const char* step) {
  Napi::Object e = NativeError(env, err, syscall, path, step);
  // empty: the constructor threw (that exception is pending), or JS can no longer run (the environment is going)
  if (!e.IsEmpty()) napi_throw(env, e);
  return env.Undefined();
}

Napi::Value ThrowTypeError(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

void InitErrors(Napi::Env env, Napi::Object exports) {
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass, "setErrorClass"));
}

}  // namespace emperor
