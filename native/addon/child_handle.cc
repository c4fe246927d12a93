#include "child_handle.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "addon.h"
#include "child_setup.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace emperor {
namespace {

class ChildHandle;
struct Setup;

// Lives as long as the pidfd's libuv handle; the JS handle points to it only while the child is alive.
struct Watch {
  uv_poll_t poll;
  UniqueFd pidfd;
  napi_env env = nullptr;
  Napi::FunctionReference on_exit;
  Napi::ObjectReference self;  // keeps the JS handle reachable until the exit is reported
  ChildHandle* owner = nullptr;
  Setup* setup = nullptr;              // until the setup outcome is delivered
  std::shared_ptr<void> child_memory;  // a child that failed or hung before its exec still runs on it until it exits
};

// The setup phase: lives as long as its two libuv handles; points to its Watch only until the outcome is delivered.
struct Setup : SetupWatch {
  explicit Setup(SetupWatch from) : SetupWatch(std::move(from)) {}
  uv_poll_t report_poll;
  uv_timer_t timer;
  int open_handles = 0;
  Watch* watch = nullptr;
  Napi::FunctionReference on_started;
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
    if (syscall(SYS_pidfd_send_signal, watch->pidfd.get(), sig, nullptr, 0) < 0) {
      if (errno == ESRCH) return Napi::Boolean::New(env, false);  // exited, not yet reaped
      return ThrowNativeError(env, errno, "pidfd_send_signal");
    }
    return Napi::Boolean::New(env, true);
  }

  // Every handle of the child, the setup's included: an unref'd child must not hold the loop while it starts.
  Napi::Value Ref(const Napi::CallbackInfo& info) {
    SetRef(uv_ref);
    return info.Env().Undefined();
  }
  Napi::Value Unref(const Napi::CallbackInfo& info) {
    SetRef(uv_unref);
    return info.Env().Undefined();
  }

 private:
  void SetRef(void (*set)(uv_handle_t*)) {
    if (!watch) return;
    set(reinterpret_cast<uv_handle_t*>(&watch->poll));
    if (Setup* s = watch->setup) {
      set(reinterpret_cast<uv_handle_t*>(&s->report_poll));
      set(reinterpret_cast<uv_handle_t*>(&s->timer));
    }
  }
};

}  // namespace

// Node still turns the loop once more while it tears the environment down (an unref'd child may be reported then),
// with JS no longer allowed: N-API then refuses with napi_pending_exception and nothing pending, and there is nobody
// left to tell. (NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS makes node-addon-api's own calls, building the arguments,
// fail quietly the same way instead of aborting.)
void MakeCallback(Napi::Env env, Napi::Object self, Napi::FunctionReference& fn, size_t argc, const napi_value* argv,
                  bool last) {
  Napi::Function f = fn.Value();
  if (last) fn.Reset();
  napi_value result;
  if (napi_make_callback(env, nullptr, self, f, argc, argv, &result) == napi_ok) return;
  if (env.IsExceptionPending()) napi_fatal_exception(env, env.GetAndClearPendingException().Value());
}

namespace {

void Callback(Napi::Env env, Napi::Object self, Napi::FunctionReference& fn, size_t argc, const napi_value* argv) {
  MakeCallback(env, self, fn, argc, argv, true);
}

enum class Report { kFailure, kEof, kNoFailure, kPending };

// One read of the report pipe (non-blocking: uv_poll_init made it so). The child writes its record in one write,
// shorter than PIPE_BUF, so a read sees all of it or nothing; EOF means execve closed the pipe (or the child exited:
// either way it no longer runs in our memory, which the kernel has left before it closes the fds).
Report ReadReport(int fd, SetupFailure* rec) {
  ssize_t n;
  do n = read(fd, rec, sizeof *rec);
  while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof *rec)) return Report::kFailure;
  if (n == 0) return Report::kEof;
  if (n < 0 && errno == EAGAIN) return Report::kPending;
  return Report::kNoFailure;
}

// The syscall behind each child step name, for the error's `syscall` field.
const char* StepSyscall(const char* step) {
  static const char* const kPrctl[] = {"capbset_drop", "keepcaps", "cap_ambient_raise", "no_new_privs", "pdeathsig"};
  for (const char* s : kPrctl)
    if (strcmp(step, s) == 0) return "prctl";
  if (strcmp(step, "fd_map") == 0) return "dup2";
  if (strcmp(step, "mount_propagation") == 0 || strcmp(step, "config_bind") == 0) return "mount";
  if (strcmp(step, "config_readonly") == 0) return "mount_setattr";
  if (strcmp(step, "config_check") == 0) return "stat";
  return step;
}

// The parent's own failure comes first: it is why the child was killed, whatever the pipe says after that.
Napi::Value Outcome(Napi::Env env, const SetupWatch& setup, Report r, SetupFailure& rec, bool timed_out) {
  if (setup.parent_err)
    return NativeError(env, setup.parent_err, "write", setup.parent_path.c_str(), setup.parent_step);
  if (r == Report::kFailure) {
    rec.step[sizeof rec.step - 1] = '\0';
    const char* path = strcmp(rec.step, "execve") == 0  ? setup.file.c_str()
                       : strcmp(rec.step, "chdir") == 0 ? setup.cwd.c_str()
                                                        : nullptr;
    return NativeError(env, rec.err, StepSyscall(rec.step), path, rec.step);
  }
  if (timed_out) return NativeError(env, ETIMEDOUT, "spawn", nullptr, "setup_timeout");
  return env.Undefined();
}

void OnSetupHandleClosed(uv_handle_t* h) {
  Setup* s = static_cast<Setup*>(h->data);
  if (--s->open_handles == 0) delete s;
}

// Ends the setup phase and calls onStarted(error or nothing).
void Deliver(Setup* s, Report r, SetupFailure& rec, bool timed_out) {
  Watch* w = s->watch;
  Napi::Env env(w->env);
  Napi::HandleScope scope(env);
  w->setup = nullptr;
  if (r == Report::kEof)
    s->child_memory.reset();
  else
    w->child_memory = std::move(s->child_memory);
  napi_value argv[1] = {Outcome(env, *s, r, rec, timed_out)};
  // uv_close takes the fd out of epoll at once, so it can be closed before the callback: none is left when it runs.
  for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(&s->report_poll), reinterpret_cast<uv_handle_t*>(&s->timer)}) {
    UnguardHandle(w->env, h);
    uv_close(h, OnSetupHandleClosed);
  }
  s->report_fd.reset();
  Callback(env, w->self.Value(), s->on_started, 1, argv);
}

void OnReportReadable(uv_poll_t* h, int status, int events) {
  Setup* s = static_cast<Setup*>(h->data);
  SetupFailure rec{};
  Report r = ReadReport(s->report_fd.get(), &rec);
  if (r != Report::kPending) Deliver(s, r, rec, false);
}

void OnSetupTimeout(uv_timer_t* h) {
  Setup* s = static_cast<Setup*>(h->data);
  SetupFailure rec{};
  Report r = ReadReport(s->report_fd.get(), &rec);
  // A child stuck before exec, in a FUSE request its daemon never answers, does not even die of SIGKILL: the
  // outcome is reported now, the exit whenever the kernel lets it happen.
  if (r == Report::kPending) syscall(SYS_pidfd_send_signal, s->watch->pidfd.get(), SIGKILL, nullptr, 0);
  Deliver(s, r, rec, r == Report::kPending);
}

void OnClosed(uv_handle_t* h) { delete static_cast<Watch*>(h->data); }

void OnPidfdReadable(uv_poll_t* h, int status, int events) {
  Watch* w = static_cast<Watch*>(h->data);
  siginfo_t si{};
  Napi::Env env(w->env);
  Napi::HandleScope scope(env);
  Napi::Value code = env.Null(), signal = env.Null();
  if (waitid(static_cast<idtype_t>(P_PIDFD), w->pidfd.get(), &si, WEXITED | WNOHANG) == 0) {
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
  UnguardHandle(w->env, reinterpret_cast<uv_handle_t*>(h));
  uv_close(reinterpret_cast<uv_handle_t*>(h), OnClosed);
  w->pidfd.reset();  // as the report pipe's in Deliver
  if (Setup* s = w->setup) {
    // Dead before its report was read (a failed step writes it just before _exit): the pipe decides, and without
    // a record the child got as far as execve, or was killed before it could fail.
    SetupFailure rec{};
    Deliver(s, ReadReport(s->report_fd.get(), &rec), rec, false);
  }
  napi_value argv[2] = {code, signal};
  Napi::Object self = w->self.Value();
  w->self.Reset();
  Callback(env, self, w->on_exit, 2, argv);
}

}  // namespace

int NewChildHandle(Napi::Env env, pid_t pid, UniqueFd pidfd, SetupWatch setup, Napi::Function onStarted,
                   Napi::Function onExit, Napi::Object* out) {
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  Watch* w = new Watch();
  w->poll.data = w;
  // uv_poll_start cannot fail for a valid handle and callback; uv_poll_init is the only refusal point.
  if (int r = uv_poll_init(loop, &w->poll, pidfd.get()); r != 0) {
    delete w;
    return r;
  }
  w->pidfd = std::move(pidfd);
  Setup* s = new Setup(std::move(setup));
  if (int r = uv_poll_init(loop, &s->report_poll, s->report_fd.get()); r != 0) {
    delete s;
    uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), OnClosed);  // the pidfd goes with w
    return r;
  }
  uv_timer_init(loop, &s->timer);  // cannot fail
  Napi::Object obj = env.GetInstanceData<AddonData>()->child_handle.New({});
  ChildHandle* handle = ChildHandle::Unwrap(obj);
  w->env = env;
  w->on_exit = Napi::Persistent(onExit);
  w->self = Napi::Persistent(obj);
  w->owner = handle;
  w->setup = s;
  s->report_poll.data = s;
  s->timer.data = s;
  s->open_handles = 2;
  s->watch = w;
  s->on_started = Napi::Persistent(onStarted);
  handle->pid = pid;
  handle->watch = w;
  for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(&w->poll), reinterpret_cast<uv_handle_t*>(&s->report_poll),
                         reinterpret_cast<uv_handle_t*>(&s->timer)})
    GuardHandle(env, h);
  uv_poll_start(&w->poll, UV_READABLE, OnPidfdReadable);
  uv_poll_start(&s->report_poll, UV_READABLE, OnReportReadable);
  if (s->timeout_ms) uv_timer_start(&s->timer, OnSetupTimeout, s->timeout_ms, 0);
  *out = obj;
  return 0;
}

void InitChildHandle(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = ChildHandle::DefineClass(env, "ChildHandle",
                                                 {
                                                     ChildHandle::InstanceAccessor<&ChildHandle::Pid>("pid"),
                                                     ChildHandle::InstanceAccessor<&ChildHandle::Alive>("alive"),
                                                     ChildHandle::InstanceMethod<&ChildHandle::Kill>("kill"),
                                                     ChildHandle::InstanceMethod<&ChildHandle::Ref>("ref"),
                                                     ChildHandle::InstanceMethod<&ChildHandle::Unref>("unref"),
                                                 });
  env.GetInstanceData<AddonData>()->child_handle = Napi::Persistent(ctor);
}

}  // namespace emperor
