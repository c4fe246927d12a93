#include "child_handle.h"

#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "addon.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace emperor {
namespace {

class ChildHandle;

// Set at the 'exit' event of the main thread, the only one that spawns: Node then tears its environment down and
// turns the loop once more to close handles, with JS disallowed; reporting a child that exits right then aborted
// (or crashed) the whole process.
bool g_exiting = false;

// Lives as long as the libuv handle; the JS handle points to it only while the child is alive.
struct Watch {
  uv_poll_t poll;
  int pidfd = -1;
  napi_env env = nullptr;
  Napi::FunctionReference on_exit;
  Napi::ObjectReference self;  // keeps the JS handle reachable until the exit is reported
  ChildHandle* owner = nullptr;
};

class ChildHandle : public Napi::ObjectWrap<ChildHandle> {
 public:
  explicit ChildHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ChildHandle>(info) {}

  pid_t pid = 0;
  Watch* watch = nullptr;  // nullptr once the child has been reaped

  Napi::Value Pid(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), pid); }
  Napi::Value Alive(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), watch != nullptr); }

  Napi::Value Kill(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber()) return ThrowTypeError(env, "kill: signal must be a number");
    if (!watch) return Napi::Boolean::New(env, false);
    int sig = info[0].As<Napi::Number>().Int32Value();
    if (syscall(SYS_pidfd_send_signal, watch->pidfd, sig, nullptr, 0) < 0) {
      if (errno == ESRCH) return Napi::Boolean::New(env, false);  // exited, not yet reaped
      return ThrowNativeError(env, errno, "pidfd_send_signal");
    }
    return Napi::Boolean::New(env, true);
  }

  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (watch) uv_ref(reinterpret_cast<uv_handle_t*>(&watch->poll));
    return info.Env().Undefined();
  }
  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (watch) uv_unref(reinterpret_cast<uv_handle_t*>(&watch->poll));
    return info.Env().Undefined();
  }
};

void OnClosed(uv_handle_t* h) {
  Watch* w = static_cast<Watch*>(h->data);
  close(w->pidfd);
  delete w;
}

void OnPidfdReadable(uv_poll_t* h, int status, int events) {
  Watch* w = static_cast<Watch*>(h->data);
  if (g_exiting) {
    uv_poll_stop(h);
    return;
  }
  siginfo_t si{};
  Napi::Env env(w->env);
  Napi::HandleScope scope(env);
  Napi::Value code = env.Null(), signal = env.Null();
  if (waitid(static_cast<idtype_t>(P_PIDFD), w->pidfd, &si, WEXITED | WNOHANG) == 0) {
    if (si.si_pid == 0) return;  // not exited yet
    if (si.si_code == CLD_EXITED)
      code = Napi::Number::New(env, si.si_status);
    else
      signal = Napi::Number::New(env, si.si_status);
  } else if (errno == EINTR) {
    return;  // the pidfd stays readable: the next loop turn retries
  }
  // Any other waitid error means the status is lost (someone else reaped it): report the exit with both null.
  if (w->owner) w->owner->watch = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(h), OnClosed);
  Napi::Function fn = w->on_exit.Value();
  Napi::Object self = w->self.Value();
  w->on_exit.Reset();
  w->self.Reset();
  napi_value argv[2] = {code, signal};
  napi_value result;
  napi_status st = napi_make_callback(env, nullptr, self, fn, 2, argv, &result);
  if (st == napi_pending_exception || env.IsExceptionPending()) {
    // A throwing onExit becomes an uncaughtException, as with any event-loop callback.
    napi_fatal_exception(env, env.GetAndClearPendingException().Value());
  }
}

Napi::Value ProcessExiting(const Napi::CallbackInfo& info) {
  if (syscall(SYS_gettid) == getpid()) g_exiting = true;
  return info.Env().Undefined();
}

}  // namespace

int NewChildHandle(Napi::Env env, pid_t pid, int pidfd, Napi::Function onExit, Napi::Object* out) {
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  Watch* w = new Watch();
  // uv_poll_start cannot fail for a valid handle and callback; uv_poll_init is the only refusal point.
  if (int r = uv_poll_init(loop, &w->poll, pidfd); r != 0) {
    delete w;
    return r;
  }
  Napi::Object obj = env.GetInstanceData<Napi::FunctionReference>()->New({});
  ChildHandle* handle = ChildHandle::Unwrap(obj);
  w->pidfd = pidfd;
  w->env = env;
  w->on_exit = Napi::Persistent(onExit);
  w->self = Napi::Persistent(obj);
  w->owner = handle;
  w->poll.data = w;
  handle->pid = pid;
  handle->watch = w;
  uv_poll_start(&w->poll, UV_READABLE, OnPidfdReadable);
  *out = obj;
  return 0;
}

void InitChildHandle(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = ChildHandle::DefineClass(
      env, "ChildHandle",
      {
          ChildHandle::InstanceAccessor<&ChildHandle::Pid>("pid"),
          ChildHandle::InstanceAccessor<&ChildHandle::Alive>("alive"),
          ChildHandle::InstanceMethod<&ChildHandle::Kill>("kill"),
          ChildHandle::InstanceMethod<&ChildHandle::Ref>("ref"),
          ChildHandle::InstanceMethod<&ChildHandle::Unref>("unref"),
      });
  env.SetInstanceData<Napi::FunctionReference>(new Napi::FunctionReference(Napi::Persistent(ctor)));
  exports.Set("processExiting", Napi::Function::New(env, ProcessExiting, "processExiting"));
}

}  // namespace emperor
