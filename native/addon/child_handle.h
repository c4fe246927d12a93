// The JS-side handle of one spawned child, watched on the main loop from clone to exit: first its setup (the report
// pipe and a deadline), then its pidfd. kill() goes through the pidfd.
#pragma once
#include <napi.h>
#include <stdint.h>
#include <sys/types.h>

#include <memory>
#include <string>

#include "unique_fd.h"

namespace emperor {

// What the outcome of the child's setup (clone to execve) is read from.
struct SetupWatch {
  UniqueFd report_fd;       // read end of the close-on-exec report pipe: EOF = execve done, a SetupFailure = failed
  uint32_t timeout_ms = 0;  // then SIGKILL and ETIMEDOUT; 0 = no deadline
  std::string file, cwd;    // the `path` of an execve or a chdir failure
  // A step the parent failed itself after clone (a uid_map write...), the child already SIGKILLed: the outcome,
  // whatever the pipe says.
  int parent_err = 0;
  const char* parent_step = nullptr;
  std::string parent_path;
  // What a child sharing our memory reads and runs on (its plan, its stack): kept until the report pipe's EOF (no
  // write end left: the child exec'd, which closed it, or exited) or the child's exit, whichever comes first.
  std::shared_ptr<void> child_memory;
};

// Starts watching the child and stores the JS handle in *out; returns 0, or a libuv error (then nothing watches the
// child). onStarted(error?: NativeError) runs once with the setup outcome, then onExit(code: number|null, signal:
// number|null) once, each on the main JS thread through its own napi_make_callback, so the promise reactions to the
// first have run before the second. The pidfd and the report pipe are the handle's: closed once no longer watched,
// or at once when it fails.
int NewChildHandle(Napi::Env env, pid_t pid, UniqueFd pidfd, SetupWatch setup, Napi::Function onStarted,
                   Napi::Function onExit, Napi::Object* out);

}  // namespace emperor
