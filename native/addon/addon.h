// Registration of each concern's exports, and the error shape they share.
#pragma once
#include <napi.h>

namespace emperor {

void InitSpawn(Napi::Env env, Napi::Object exports);
void InitChildHandle(Napi::Env env, Napi::Object exports);
void InitFdOps(Napi::Env env, Napi::Object exports);
void InitExec(Napi::Env env, Napi::Object exports);
void InitStatBatch(Napi::Env env, Napi::Object exports);
void InitExchange(Napi::Env env, Napi::Object exports);

// A Node-SystemError-shaped Error: code ('ENOENT'), errno (negative, as Node's SystemError.errno), syscall, and path
// and step when given. err is a positive errno.
Napi::Error NativeError(Napi::Env env, int err, const char* syscall, const char* path = nullptr,
                        const char* step = nullptr);
// Throws NativeError(...) and returns undefined, for `return ThrowNativeError(...)` in exports.
Napi::Value ThrowNativeError(Napi::Env env, int err, const char* syscall, const char* path = nullptr,
                             const char* step = nullptr);
Napi::Value ThrowTypeError(Napi::Env env, const std::string& message);

}  // namespace emperor
