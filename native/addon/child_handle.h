// The JS-side handle of one spawned child: its pidfd watched by a uv_poll on the main loop, kill() through the pidfd.
#pragma once
#include <napi.h>
#include <sys/types.h>

namespace emperor {

// Starts watching pidfd and stores the JS handle in *out; returns 0, or a libuv error (then the pidfd is still the
// caller's). onExit(code: number|null, signal: number|null) runs once, on the main JS thread; the pidfd is closed
// after it.
int NewChildHandle(Napi::Env env, pid_t pid, int pidfd, Napi::Function onExit, Napi::Object* out);

}  // namespace emperor
