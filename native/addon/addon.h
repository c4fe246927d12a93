// Registration of each concern's exports, the per-environment data they share, and the error shape.
#pragma once
#include <napi.h>
#include <uv.h>

namespace emperor {

// One per Node environment (the main thread, each worker), as the instance data.
struct AddonData {
  Napi::FunctionReference child_handle;  // the ChildHandle class
  Napi::FunctionReference channel;       // the Channel class
  Napi::FunctionReference error_class;   // src/native.ts's NativeError, handed over through setErrorClass()
};

void InitErrors(Napi::Env env, Napi::Object exports);
void InitSpawn(Napi::Env env, Napi::Object exports);
void InitChildHandle(Napi::Env env, Napi::Object exports);
void InitFdOps(Napi::Env env, Napi::Object exports);
void InitExec(Napi::Env env, Napi::Object exports);
void InitExchange(Napi::Env env, Napi::Object exports);
void InitChannel(Napi::Env env, Napi::Object exports);
void InitUnixOps(Napi::Env env, Napi::Object exports);
void InitFdWatch(Napi::Env env, Napi::Object exports);
void InitTeardown(Napi::Env env);

// A uv_poll_t or uv_timer_t whose callback calls into JS: guarded while it may fire, stopped when its environment is
// torn down (teardown.cc says why). Unguard it when it is closed.
void GuardHandle(napi_env env, uv_handle_t* h);
void UnguardHandle(napi_env env, uv_handle_t* h);

// Calls fn(argv...) on behalf of `self` from a libuv callback, through napi_make_callback so that Node runs the
// microtasks and ticks it queued when it returns; `last` releases fn (a one-shot callback). A throw becomes an
// uncaughtException.
void MakeCallback(Napi::Env env, Napi::Object self, Napi::FunctionReference& fn, size_t argc, const napi_value* argv,
                  bool last);

// A NativeError (src/native.ts), shaped like Node's SystemError: code ('ENOENT'), errno (negative, as Node's
// SystemError.errno), syscall, and path and step when given. err is a positive errno.
Napi::Object NativeError(Napi::Env env, int err, const char* syscall, const char* path = nullptr,
                         const char* step = nullptr);
// Throws NativeError(...) and returns undefined, for `return ThrowNativeError(...)` in exports.
Napi::Value ThrowNativeError(Napi::Env env, int err, const char* syscall, const char* path = nullptr,
                             const char* step = nullptr);
Napi::Value ThrowTypeError(Napi::Env env, const std::string& message);

}  // namespace emperor
