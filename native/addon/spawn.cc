// spawn(): clone3 (or clone + pidfd_open), the parent's share of the setup (uid/gid maps, cgroup.procs on the
// fallback path), then the child is handed to a ChildHandle that reports on the event loop how its setup ended and
// when it exits. Nothing here waits for the child. The child's share is child_setup_and_exec() in native/common.
//
// The child shares the emperor's memory (CLONE_VM), so a spawn costs the same whatever the emperor's size: no page
// table is copied. It runs on a stack of its own, reads a plan built before the clone and writes nothing but that
// stack (raw syscalls: see child_setup.h). There is no CLONE_VFORK: the main thread goes on at once, so a child
// stuck before its exec (a cwd on a hung FUSE mount) never freezes the emperor. The plan and the stack (ChildMemory)
// are kept alive until the child has exec'd or exited: child_handle.cc lets them go on the report pipe's EOF or on
// the child's exit.
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "addon.h"
#include "child_handle.h"
#include "child_setup.h"
#include "clone_vm.h"
#include "config_bind.h"
#include "raw_syscall.h"
#include "unique_fd.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLONE_CLEAR_SIGHAND
#define CLONE_CLEAR_SIGHAND 0x100000000ULL
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

namespace emperor {
namespace {

// The kernel's struct clone_args (version 2, with cgroup); declared here to avoid <linux/sched.h> clashing
// with glibc's <sched.h>.
struct CloneArgs {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

// Everything the child reads, owned by the parent's stack frame and built before clone.
struct Plan {
  std::string file, cwd, hostname, uid_map, gid_map, cgroup;
  bool has_cwd = false, has_hostname = false, has_uid_map = false, has_gid_map = false, has_cgroup = false;
  std::vector<std::string> argv_s, env_s;
  std::vector<char*> argv, envp;
  std::vector<int> fds;
  std::vector<gid_t> groups;
  uint64_t ns_flags = 0;
  uint32_t setup_timeout_ms = 10000;
  ConfigBind config_bind;
  ChildSetup setup;
};

// Children sharing our memory that have not exec'd or exited yet (the main thread is the only one that counts).
int g_children_in_setup = 0;
// A child's setresuid() clears the dumpable flag of the memory it shares: ours. It is given back only once no child
// is left between clone and exec, so that no process of another uid can ever attach to one of them (and through it,
// to us); -1 until read at the first spawn.
int g_dumpable = -1;

// What a CLONE_VM child reads and runs on. The child gets the fds and the plan by value-stable pointers: nothing
// here is written by the parent after the clone.
struct ChildMemory {
  static constexpr size_t kStack = 64 * 1024, kGuard = 4096;
  Plan plan;
  int sync_rd = -1, sync_wr = -1;
  void* map = MAP_FAILED;
  bool counted = false;

  bool AllocateStack() {
    map = mmap(nullptr, kStack + kGuard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (map == MAP_FAILED) return false;
    mprotect(map, kGuard, PROT_NONE);  // an overflow faults instead of writing into whatever lies below
    return true;
  }
  uintptr_t StackBase() const { return reinterpret_cast<uintptr_t>(map) + kGuard; }
  ~ChildMemory() {
    if (map != MAP_FAILED) munmap(map, kStack + kGuard);
    if (counted && --g_children_in_setup == 0 && g_dumpable > 0) prctl(PR_SET_DUMPABLE, g_dumpable, 0, 0, 0);
  }
};

// The nofile limits every child gets (raiseNofileLimit() raises the emperor's own): the hard limit the emperor was
// started with, and a soft limit of at most 1024.
bool g_has_original_nofile = false;
struct rlimit64 g_original_nofile;

// Reads spawn()'s options object. Every key with a default has it in src/native.ts (SPAWN_DEFAULTS) and is required
// here, so that a default lives in one place; the Opt* readers are for keys whose absence means "leave it as the
// parent has it". A key no reader asked for is refused by RejectUnknown(), so a key renamed on one side fails at
// once instead of falling back to nothing. test/native.mirror.test.ts reads these calls.
class Reader {
 public:
  Reader(Napi::Env env, Napi::Object obj) : env_(env), obj_(obj) {}

  bool Str(const char* key, std::string* out) { return Required(key) && ReadStr(key, out); }
  bool OptStr(const char* key, std::string* out, bool* present) { return !(*present = Has(key)) || ReadStr(key, out); }
  bool Bool(const char* key, bool* out) {
    if (!Required(key)) return false;
    Napi::Value v = Get(key);
    if (!v.IsBoolean()) return Fail(key, "a boolean");
    *out = v.As<Napi::Boolean>().Value();
    return true;
  }
  bool Uint32(const char* key, uint32_t* out) { return Required(key) && ReadUint32(key, out); }
  bool OptUint32(const char* key, uint32_t* out, bool* present) {
    return !(*present = Has(key)) || ReadUint32(key, out);
  }
  bool Strings(const char* key, std::vector<std::string>* out) {
    if (!Required(key)) return false;
    Napi::Value v = Get(key);
    if (!v.IsArray()) return Fail(key, "an array of strings");
    Napi::Array a = v.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value e = a.Get(i);
      if (!e.IsString()) return Fail(key, "an array of strings");
      out->push_back(e.As<Napi::String>().Utf8Value());
    }
    return true;
  }
  bool Ints(const char* key, std::vector<double>* out) { return Required(key) && ReadInts(key, out); }
  bool OptInts(const char* key, std::vector<double>* out, bool* present) {
    return !(*present = Has(key)) || ReadInts(key, out);
  }
  bool OptCapMask(const char* key, uint64_t* mask, bool* present) {
    std::vector<double> caps;
    if (!OptInts(key, &caps, present)) return false;
    for (double c : caps) {
      if (c < 0 || c > 63) return Fail(key, "capability numbers in 0..63");
      *mask |= uint64_t{1} << static_cast<int>(c);
    }
    return true;
  }

  // A TypeError naming the first key of the object that no reader asked for.
  bool RejectUnknown() {
    Napi::Array names = obj_.GetPropertyNames();
    for (uint32_t i = 0; i < names.Length(); i++) {
      std::string name = names.Get(i).ToString().Utf8Value();
      bool known = false;
      for (const std::string& k : asked_) known = known || k == name;
      if (!known) return Throw("spawn: unknown option '" + name + "'");
    }
    return true;
  }

  bool Fail(const char* key, const char* what) {
    return Throw(std::string("spawn: option '") + key + "' must be " + what);
  }
  // An option read by its own parser (configBind): asked for, so RejectUnknown knows it.
  Napi::Value OptObject(const char* key) { return Get(key); }
  Napi::Env env() const { return env_; }

 private:
  Napi::Value Get(const char* key) {
    asked_.emplace_back(key);
    return obj_.Get(key);
  }
  bool Has(const char* key) {
    Napi::Value v = Get(key);
    return !v.IsUndefined() && !v.IsNull();
  }
  bool Required(const char* key) { return Has(key) || Fail(key, "given (src/native.ts fills in its default)"); }
  bool Throw(const std::string& message) {
    ThrowTypeError(env_, message);
    return false;
  }
  bool ReadStr(const char* key, std::string* out) {
    Napi::Value v = Get(key);
    if (!v.IsString()) return Fail(key, "a string");
    *out = v.As<Napi::String>().Utf8Value();
    if (out->find('\0') != std::string::npos) return Fail(key, "a string without NUL bytes");
    return true;
  }
  bool ReadUint32(const char* key, uint32_t* out) {
    Napi::Value v = Get(key);
    if (!v.IsNumber()) return Fail(key, "a number");
    double d = v.As<Napi::Number>().DoubleValue();
    if (d < 0 || d > 4294967295.0 || d != static_cast<uint32_t>(d)) return Fail(key, "an integer in 0..2^32-1");
    *out = static_cast<uint32_t>(d);
    return true;
  }
  bool ReadInts(const char* key, std::vector<double>* out) {
    Napi::Value v = Get(key);
    if (!v.IsArray()) return Fail(key, "an array of numbers");
    Napi::Array a = v.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value e = a.Get(i);
      if (!e.IsNumber()) return Fail(key, "an array of numbers");
      double d = e.As<Napi::Number>().DoubleValue();
      if (d != static_cast<int64_t>(d)) return Fail(key, "an array of integers");
      out->push_back(d);
    }
    return true;
  }

  Napi::Env env_;
  Napi::Object obj_;
  std::vector<std::string> asked_;
};

// The namespaces spawn() creates, by the names src/tables/namespaces.ts gives them (test/native.mirror.test.ts).
struct NamespaceName {
  const char* name;
  uint64_t flag;
};
constexpr NamespaceName kNamespaces[] = {
    {"mount", CLONE_NEWNS}, {"pid", CLONE_NEWPID},   {"net", CLONE_NEWNET},       {"ipc", CLONE_NEWIPC},
    {"uts", CLONE_NEWUTS},  {"user", CLONE_NEWUSER}, {"cgroup", CLONE_NEWCGROUP},
};

bool NamespaceFlags(Reader& r, const std::vector<std::string>& names, uint64_t* flags) {
  for (const std::string& n : names) {
    uint64_t f = 0;
    for (const NamespaceName& ns : kNamespaces)
      if (n == ns.name) f = ns.flag;
    if (!f) return r.Fail("namespaces", "a list of mount, pid, net, ipc, uts, user, cgroup");
    *flags |= f;
  }
  return true;
}

bool PropagationFlag(Reader& r, const std::string& name, unsigned long* flag) {
  if (name == "private")
    *flag = MS_PRIVATE;
  else if (name == "slave")
    *flag = MS_SLAVE;
  else if (name == "shared")
    *flag = MS_SHARED;
  else if (name == "unchanged")
    *flag = 0;
  else
    return r.Fail("mountPropagation", "private, slave, shared or unchanged");
  return true;
}

std::vector<char*> CStrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(&s[0]);
  out.push_back(nullptr);
  return out;
}

// The options as spawn() was given them, before they become the child's plan.
struct Given {
  std::vector<std::string> namespaces;
  std::string propagation;
  std::vector<double> fds, groups;
  bool has_groups = false, has_uid = false, has_gid = false, has_ambient = false;
  uint32_t uid = 0, gid = 0, death_signal = 0;
};

// Every key, once each, in the order of src/native.ts SpawnOptions.
bool ReadGiven(Reader& r, Plan* p, Given* g) {
  ChildSetup& s = p->setup;
  return r.Str("file", &p->file) && r.Strings("argv", &p->argv_s) && r.Strings("env", &p->env_s) &&
         r.OptStr("cwd", &p->cwd, &p->has_cwd) && r.Ints("fds", &g->fds) && r.Strings("namespaces", &g->namespaces) &&
         r.OptStr("uidMap", &p->uid_map, &p->has_uid_map) && r.OptStr("gidMap", &p->gid_map, &p->has_gid_map) &&
         r.OptStr("cgroup", &p->cgroup, &p->has_cgroup) && r.Bool("setsid", &s.new_session) &&
         r.OptStr("hostname", &p->hostname, &p->has_hostname) && r.OptUint32("uid", &g->uid, &g->has_uid) &&
         r.OptUint32("gid", &g->gid, &g->has_gid) && r.OptInts("groups", &g->groups, &g->has_groups) &&
         r.OptCapMask("capBounding", &s.bounding_keep, &s.set_bounding) &&
         r.OptCapMask("capAmbient", &s.ambient, &g->has_ambient) && r.Bool("noNewPrivs", &s.no_new_privs) &&
         r.Uint32("deathSignal", &g->death_signal) && r.Str("mountPropagation", &g->propagation) &&
         r.Uint32("setupTimeout", &p->setup_timeout_ms) &&
         ReadConfigBind(r.env(), r.OptObject("configBind"), &p->config_bind) && r.RejectUnknown();
}

// The child's plan from what was given: checked, and pointing into p's own storage.
bool PlanChild(Reader& r, Plan* p, const Given& g) {
  ChildSetup& s = p->setup;
  if (!NamespaceFlags(r, g.namespaces, &p->ns_flags)) return false;
  unsigned long propagation = 0;
  if (!PropagationFlag(r, g.propagation, &propagation)) return false;
  if (p->ns_flags & CLONE_NEWNS) s.mount_propagation = propagation;
  if (p->config_bind.enabled && !(p->ns_flags & CLONE_NEWNS))
    return r.Fail("configBind", "used with the mount namespace");
  if (g.fds.size() > static_cast<size_t>(kMaxChildFds)) return r.Fail("fds", "at most 1024 entries");
  for (double f : g.fds) p->fds.push_back(f < 0 ? -1 : static_cast<int>(f));
  for (double gid : g.groups) {
    if (gid < 0 || gid > 4294967295.0) return r.Fail("groups", "gids in 0..2^32-1");
    p->groups.push_back(static_cast<gid_t>(gid));
  }
  p->argv = CStrings(p->argv_s);
  p->envp = CStrings(p->env_s);
  s.pdeathsig = static_cast<int>(g.death_signal);
  s.hostname = p->has_hostname ? p->hostname.c_str() : nullptr;
  s.set_groups = g.has_groups;
  s.ngroups = static_cast<int>(p->groups.size());
  s.groups = p->groups.data();
  s.set_gid = g.has_gid;
  s.gid = g.gid;
  s.set_uid = g.has_uid;
  s.uid = g.uid;
  s.cwd = p->has_cwd ? p->cwd.c_str() : nullptr;
  s.nfds = static_cast<int>(p->fds.size());
  s.fd_map = p->fds.data();
  s.file = p->file.c_str();
  s.argv = p->argv.data();
  s.envp = p->envp.data();
  return true;
}

bool ReadPlan(Napi::Env env, Napi::Object o, Plan* p) {
  Reader r(env, o);
  Given g;
  return ReadGiven(r, p, &g) && PlanChild(r, p, g);
}

int WriteFile(const std::string& path, const std::string& text) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return errno;
  ssize_t n = write(fd.get(), text.data(), text.size());
  return n < 0 ? errno : (static_cast<size_t>(n) != text.size() ? EIO : 0);
}

int RunChild(void* arg) {
  const ChildMemory* m = static_cast<const ChildMemory*>(arg);
  sys(SYS_close, m->sync_wr);
  // Parked until the parent watches us and has written the id maps / cgroup.procs; EOF means it gave up (or died).
  char c;
  if (sys_retry(SYS_read, m->sync_rd, &c, 1) != 1) sys_exit_group(127);
  BindConfig(m->plan.config_bind, m->plan.setup.report_fd);
  child_setup_and_exec(m->plan.setup);
}

// Closing the sync pipe makes the child, parked in its read() and doing nothing else yet, _exit(127) at once: this
// is the one wait for a child on the main thread, and it is bounded by that.
void AbandonParked(UniqueFd& sync_wr, pid_t pid) {
  sync_wr.reset();
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

// The parent's steps between clone and "go": returns 0 or errno, naming the failing step/path.
int ParentSteps(const Plan& p, pid_t pid, bool cgroup_by_write, const char** step, std::string* path) {
  std::string proc = "/proc/" + std::to_string(pid) + "/";
  if (p.has_uid_map) {
    *step = "uid_map";
    *path = proc + "uid_map";
    if (int e = WriteFile(*path, p.uid_map)) return e;
  }
  if (p.has_gid_map) {
    *step = "gid_map";
    *path = proc + "gid_map";
    int e = WriteFile(*path, p.gid_map);
    if (e == EPERM) {
      // Without CAP_SETGID over the parent namespace the kernel wants setgroups denied first.
      *step = "setgroups";
      *path = proc + "setgroups";
      if ((e = WriteFile(*path, "deny"))) return e;
      *step = "gid_map";
      *path = proc + "gid_map";
      e = WriteFile(*path, p.gid_map);
    }
    if (e) return e;
  }
  if (cgroup_by_write) {
    *step = "cgroup";
    *path = p.cgroup + "/cgroup.procs";
    if (int e = WriteFile(*path, std::to_string(pid))) return e;
  }
  return 0;
}

// The clone itself: clone3 with our flags, or (refused: an old kernel, a seccomp filter) plain clone, with the new
// stack. Returns the pid or -errno, *pidfd set on the clone3 path only.
long CloneChild(ChildMemory* m, uint64_t flags, int cgroup_fd, int* pidfd, const char** call) {
  CloneArgs args{};
  args.flags = flags | CLONE_PIDFD | CLONE_CLEAR_SIGHAND | (cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0);
  args.pidfd = reinterpret_cast<uintptr_t>(pidfd);
  args.exit_signal = SIGCHLD;
  args.stack = m->StackBase();
  args.stack_size = ChildMemory::kStack;
  args.cgroup = cgroup_fd >= 0 ? static_cast<uint64_t>(cgroup_fd) : 0;
  *call = "clone3";
  long pid = clone_vm_call(SYS_clone3, reinterpret_cast<long>(&args), sizeof args, 0, 0, 0, RunChild, m);
  if (pid == -EINVAL) {  // kernels before 5.5 lack CLONE_CLEAR_SIGHAND
    args.flags &= ~uint64_t{CLONE_CLEAR_SIGHAND};
    pid = clone_vm_call(SYS_clone3, reinterpret_cast<long>(&args), sizeof args, 0, 0, 0, RunChild, m);
  }
  if (pid != -ENOSYS && pid != -EPERM && pid != -E2BIG) return pid;
  long legacy = clone_vm_call(SYS_clone, static_cast<long>(flags | SIGCHLD),
                              static_cast<long>(m->StackBase() + ChildMemory::kStack), 0, 0, 0, RunChild, m);
  if (legacy < 0 && legacy == pid) return pid;  // the same refusal: named after clone3
  *call = "clone";
  return legacy;
}

// A failed system call of the parent's, as spawn() throws it.
struct Failure {
  int err = 0;
  const char* syscall = nullptr;
  const char* path = nullptr;
  const char* step = nullptr;
};

Napi::Value Throw(Napi::Env env, const Failure& f) { return ThrowNativeError(env, f.err, f.syscall, f.path, f.step); }

// The parent's descriptors of one spawn, each closed when spawn() returns unless handed over first.
struct SpawnFds {
  UniqueFd report_rd, report_wr;  // the child's close-on-exec report pipe (SetupFailure, or EOF at execve)
  UniqueFd sync_rd, sync_wr;      // the child is parked on sync_rd until the parent writes "go"
  UniqueFd cgroup;                // the cgroup directory, for CLONE_INTO_CGROUP
  UniqueFd parent_pidfd;          // ours, for a child in a new pid namespace to see us die
};

// Everything the clone needs that can fail, before any child exists.
Failure OpenSpawnFds(const Plan& p, SpawnFds* f) {
  if (!make_pipe(f->report_rd, f->report_wr, O_CLOEXEC) || !make_pipe(f->sync_rd, f->sync_wr, O_CLOEXEC))
    return {errno, "pipe2"};
  if (p.has_cgroup) {
    f->cgroup.reset(open(p.cgroup.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!f->cgroup) return {errno, "open", p.cgroup.c_str(), "cgroup"};
  }
  if ((p.ns_flags & CLONE_NEWPID) && p.setup.pdeathsig) {
    f->parent_pidfd.reset(static_cast<int>(syscall(SYS_pidfd_open, getpid(), 0)));
    if (!f->parent_pidfd) return {errno, "pidfd_open"};
  }
  return {};
}

// What the child reads of the parent's fds, as plain ints it can use with raw syscalls.
void HandFdsToChild(ChildMemory* m, const SpawnFds& f) {
  ChildSetup& s = m->plan.setup;
  s.expected_ppid = (m->plan.ns_flags & CLONE_NEWPID) ? 0 : getpid();  // getppid() is 0 across a pid namespace
  s.parent_pidfd = f.parent_pidfd.get();
  s.report_fd = f.report_wr.get();
  m->sync_rd = f.sync_rd.get();
  m->sync_wr = f.sync_wr.get();
}

// Clones with every signal blocked, so that none of the emperor's handlers runs in the child before it resets them.
long CloneWithSignalsBlocked(ChildMemory* m, int cgroup_fd, int* pidfd, const char** call) {
  const Plan& p = m->plan;
  if (g_dumpable < 0) g_dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  // The one case for a memory of its own: an emperor without CAP_DAC_OVERRIDE writing the id maps of a child whose
  // (shared) memory another child's setresuid() made non-dumpable, which makes its /proc files root's.
  const bool own_memory = (p.has_uid_map || p.has_gid_map) && geteuid() != 0;
  long pid = CloneChild(m, p.ns_flags | (own_memory ? 0 : CLONE_VM), cgroup_fd, pidfd, call);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return pid;
}

// The child exists and is parked: the parent's own steps, its handle on the loop, then "go" (or SIGKILL when a
// parent step failed, reported through onStarted like the child's own failures).
Napi::Value WatchAndRelease(const Napi::CallbackInfo& info, std::shared_ptr<ChildMemory> memory, pid_t pid,
                            UniqueFd pidfd, SpawnFds& fds, bool cgroup_by_write) {
  Napi::Env env = info.Env();
  const Plan& p = memory->plan;
  SetupWatch setup;
  setup.report_fd = std::move(fds.report_rd);
  setup.timeout_ms = p.setup_timeout_ms;
  setup.file = p.file;
  setup.cwd = p.cwd;
  setup.parent_err = ParentSteps(p, pid, cgroup_by_write, &setup.parent_step, &setup.parent_path);
  setup.child_memory = memory;
  const bool parent_failed = setup.parent_err != 0;
  const int pidfd_num = pidfd.get();
  Napi::Object handle;
  if (int r = NewChildHandle(env, pid, std::move(pidfd), std::move(setup), info[1].As<Napi::Function>(),
                             info[2].As<Napi::Function>(), &handle)) {
    AbandonParked(fds.sync_wr, pid);
    return ThrowNativeError(env, -r, "uv_poll_init");
  }
  if (parent_failed) {
    syscall(SYS_pidfd_send_signal, pidfd_num, SIGKILL, nullptr, 0);
  } else {
    char go = 1;
    while (write(fds.sync_wr.get(), &go, 1) < 0 && errno == EINTR) {
    }
  }
  return handle;
}

// spawn(options, onStarted, onExit): see NewChildHandle for the two callbacks.
Napi::Value Spawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (syscall(SYS_gettid) != getpid()) {
    // The death signal follows the thread that cloned the child: a worker's exit would kill it.
    Napi::Error e = Napi::Error::New(env, "spawn() must be called from the main JS thread, not a worker");
    e.Set("code", "ERR_NOT_MAIN_THREAD");
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!info[0].IsObject() || !info[1].IsFunction() || !info[2].IsFunction())
    return ThrowTypeError(env, "spawn(options, onStarted, onExit)");
  auto memory = std::make_shared<ChildMemory>();
  Plan& p = memory->plan;
  if (!ReadPlan(env, info[0].As<Napi::Object>(), &p)) return env.Undefined();
  if (g_has_original_nofile) p.setup.rlimit_nofile = &g_original_nofile;
  // The child always waits on the sync pipe until the parent has its pidfd watched and its own steps done: any
  // failure of the parent's before that then ends the child at once, wherever its setup would have taken it.
  SpawnFds fds;
  if (Failure f = OpenSpawnFds(p, &fds); f.err) return Throw(env, f);
  if (!memory->AllocateStack()) return ThrowNativeError(env, errno, "mmap");
  HandFdsToChild(memory.get(), fds);
  int pidfd = -1;
  const char* clone_call = "clone3";
  const long pid = CloneWithSignalsBlocked(memory.get(), fds.cgroup.get(), &pidfd, &clone_call);
  UniqueFd owned_pidfd(pidfd);
  // What only the child needs is closed at once; the cgroup was joined by the clone, or is joined by a write
  // to cgroup.procs on the fallback path (no pidfd came back).
  const bool cgroup_by_write = pid > 0 && !owned_pidfd && p.has_cgroup;
  fds.report_wr.reset(), fds.sync_rd.reset(), fds.cgroup.reset(), fds.parent_pidfd.reset();
  if (pid < 0) return ThrowNativeError(env, static_cast<int>(-pid), clone_call, nullptr, clone_call);
  g_children_in_setup++;
  memory->counted = true;
  if (!owned_pidfd) {
    owned_pidfd.reset(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
    if (!owned_pidfd) {
      int e = errno;
      AbandonParked(fds.sync_wr, static_cast<pid_t>(pid));
      return ThrowNativeError(env, e, "pidfd_open");
    }
  }
  return WatchAndRelease(info, memory, static_cast<pid_t>(pid), std::move(owned_pidfd), fds, cgroup_by_write);
}

// raiseNofileLimit(): the soft RLIMIT_NOFILE up to the hard one, and with CAP_SYS_RESOURCE both up to `wanted`
// (bounded by fs.nr_open); every child spawned after this gets the limits as they were before. Returns
// {soft, hard, before} after the change.
Napi::Value RaiseNofileLimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) return ThrowTypeError(env, "raiseNofileLimit(wanted: number)");
  const rlim64_t wanted = static_cast<rlim64_t>(info[0].As<Napi::Number>().DoubleValue());
  struct rlimit64 cur;
  if (prlimit64(0, RLIMIT_NOFILE, nullptr, &cur) < 0) return ThrowNativeError(env, errno, "prlimit64");
  if (!g_has_original_nofile) {
    // Node has already raised its soft limit to the hard one at start, so the soft limit the emperor was given is
    // lost: children get systemd's default instead, 1024 (select()'s FD_SETSIZE), under the hard limit it was given
    g_original_nofile = cur;
    if (g_original_nofile.rlim_cur > 1024) g_original_nofile.rlim_cur = 1024;
    g_has_original_nofile = true;
  }
  struct rlimit64 next = cur;
  if (wanted > cur.rlim_max) {
    next.rlim_cur = next.rlim_max = wanted;
    if (prlimit64(0, RLIMIT_NOFILE, &next, nullptr) < 0) next = cur;  // EPERM without CAP_SYS_RESOURCE
  }
  if (next.rlim_cur < next.rlim_max) {
    next.rlim_cur = next.rlim_max;
    if (prlimit64(0, RLIMIT_NOFILE, &next, nullptr) < 0) return ThrowNativeError(env, errno, "prlimit64");
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("soft", Napi::Number::New(env, static_cast<double>(next.rlim_cur)));
  out.Set("hard", Napi::Number::New(env, static_cast<double>(next.rlim_max)));
  out.Set("before", Napi::Number::New(env, static_cast<double>(g_original_nofile.rlim_cur)));
  return out;
}

}  // namespace

void InitSpawn(Napi::Env env, Napi::Object exports) {
  exports.Set("spawn", Napi::Function::New(env, Spawn, "spawn"));
  exports.Set("raiseNofileLimit", Napi::Function::New(env, RaiseNofileLimit, "raiseNofileLimit"));
}

}  // namespace emperor
