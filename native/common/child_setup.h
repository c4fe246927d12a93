// Child-side process setup shared by the addon's spawn() and the vassal init's app launch.
// Everything here is prepared by the caller BEFORE fork/clone; the child only reads it and makes raw syscalls
// (raw_syscall.h: no libc at all, so no errno, no malloc, no lock), writing nothing but its own stack: the addon's
// child runs with CLONE_VM in the emperor's memory, beside its running threads.
#pragma once
#include <stdint.h>
#include <sys/types.h>

namespace emperor {

// What a failing child writes on its close-on-exec report pipe before _exit(127):
// the step that failed (a static NUL-terminated name such as "execve", "setresuid", "chdir") and errno.
struct SetupFailure {
  int32_t err;
  char step[28];
};

constexpr int kMaxChildFds = 1024;

// Writes one SetupFailure (the step, -neg_err) on report_fd (if >= 0) and exits 127: how a child's setup fails, in
// child_setup_and_exec and in a caller's own step before it (native/addon/config_bind.cc). Raw syscalls only.
[[noreturn]] void report_setup_failure(int report_fd, const char* step, long neg_err);

struct ChildSetup {
  int pdeathsig = 0;        // armed AFTER the credential change; 0 = none
  pid_t expected_ppid = 0;  // getppid() recorded by the parent before clone; a mismatch means the parent died
  // In a new pid namespace getppid() is always 0, so the ppid check cannot see the parent die. A pidfd of the
  // parent (pidfd_open(getpid()) before clone) can: it turns readable once the parent has exited. -1 = not used.
  int parent_pidfd = -1;
  bool new_session = true;
  // MS_PRIVATE, MS_SLAVE or MS_SHARED applied with MS_REC to "/" first (for a new mount namespace, so that its
  // mounts do not propagate back to the host); 0 = leave the propagation as inherited.
  unsigned long mount_propagation = 0;
  const char* hostname = nullptr;  // nullptr = keep
  // A struct rlimit64 applied to RLIMIT_NOFILE (the limits the emperor started with, not the ones it raised for
  // itself); nullptr = keep.
  const void* rlimit_nofile = nullptr;
  bool set_groups = false;
  int ngroups = 0;
  const gid_t* groups = nullptr;
  bool set_gid = false;
  gid_t gid = 0;
  bool set_uid = false;
  uid_t uid = 0;
  bool set_bounding = false;
  uint64_t bounding_keep = 0;  // bitmask of capability numbers to keep
  uint64_t ambient = 0;        // bitmask of capabilities raised as ambient (also made permitted+inheritable)
  bool no_new_privs = false;
  const char* cwd = nullptr;  // nullptr = keep
  int nfds = 0;
  const int* fd_map = nullptr;  // child fd i <- parent fd fd_map[i]; -1 = closed; fds >= nfds closed
  int report_fd = -1;           // close-on-exec pipe for one SetupFailure record
  const char* file = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
};

// Runs in the child after clone/fork. Resets signal dispositions and the mask, applies everything above in
// order, and execs. On failure writes one SetupFailure to report_fd and _exit(127). Never returns.
// The caller blocks every signal around the clone (pthread_sigmask), so that none of the parent's handlers can run
// in the child before the dispositions are reset here; this function empties the mask itself.
// Order: signals, mount propagation, setsid, hostname, nofile limit, setgroups, bounding set, setresgid, setresuid
// (caps kept), ambient caps, no_new_privs, death signal + parent check, chdir (as the final uid), fd map, close every
// other fd, execve. nfds is at most kMaxChildFds; the stack needs about 5 KB (the fd map's parking array).
[[noreturn]] void child_setup_and_exec(const ChildSetup& s);

}  // namespace emperor
