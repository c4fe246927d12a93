// The child half of a spawn. The addon's child shares the emperor's memory (CLONE_VM) and runs on a stack of its
// own until execve: it writes nothing but that stack, and makes every syscall through raw_syscall(), so that no
// errno, lock or lazily bound symbol of the parent's is touched (and glibc's set*id wrappers, which signal the
// parent's threads with SIGSETXID, are never called). The vassal init and emperor-setpriv call it after fork().
#include "child_setup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "raw_syscall.h"

namespace emperor {
namespace {

// What the child changes as it goes, on its own stack: the report pipe may move during the fd map.
struct Run {
  const ChildSetup& s;
  int report_fd;
};

[[noreturn]] void fail(const Run& run, const char* step, long neg_err) {
  report_setup_failure(run.report_fd, step, neg_err);
}

// The kernel's struct sigaction (handler, flags, restorer, mask), the same on x86_64 and aarch64.
struct KernelSigaction {
  void* handler;
  unsigned long flags;
  void* restorer;
  uint64_t mask;
};

// Every disposition back to default: SIG_IGN survives execve (Node ignores SIGPIPE, uWSGI leaks SIGHUP/SIGTERM).
void reset_signals() {
  KernelSigaction sa{};  // SIG_DFL is 0
  for (int sig = 1; sig < 65; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    sys(SYS_rt_sigaction, sig, &sa, nullptr, sizeof sa.mask);
  }
  uint64_t empty = 0;
  sys(SYS_rt_sigprocmask, SIG_SETMASK, &empty, nullptr, sizeof empty);
}

void drop_bounding(const Run& run) {
  for (int cap = 0; cap < 64; cap++) {
    if (run.s.bounding_keep & (uint64_t{1} << cap)) continue;
    if (long r = sys(SYS_prctl, PR_CAPBSET_DROP, cap, 0, 0, 0); r < 0) {
      if (r == -EINVAL) break;  // past CAP_LAST_CAP of this kernel
      fail(run, "capbset_drop", r);
    }
  }
}

// Ambient caps must be in both the permitted and the inheritable set before PR_CAP_AMBIENT_RAISE.
void raise_ambient(const Run& run) {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (long r = sys(SYS_capget, &hdr, data); r < 0) fail(run, "capget", r);
  data[0].inheritable |= uint32_t(run.s.ambient);
  data[1].inheritable |= uint32_t(run.s.ambient >> 32);
  if (long r = sys(SYS_capset, &hdr, data); r < 0) fail(run, "capset", r);
  for (int cap = 0; cap < 64; cap++) {
    if (!(run.s.ambient & (uint64_t{1} << cap))) continue;
    if (long r = sys(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0); r < 0)
      fail(run, "cap_ambient_raise", r);
  }
}

void arm_death_signal(const Run& run) {
  const ChildSetup& s = run.s;
  if (s.pdeathsig == 0) return;
  if (long r = sys(SYS_prctl, PR_SET_PDEATHSIG, s.pdeathsig, 0, 0, 0); r < 0) fail(run, "pdeathsig", r);
  // The parent may have died before the signal was armed; nobody reads the report then, just leave.
  if (s.expected_ppid != 0 && sys(SYS_getppid) != s.expected_ppid) sys_exit_group(127);
  if (s.parent_pidfd >= 0) {
    struct pollfd p {
      s.parent_pidfd, POLLIN, 0
    };
    struct timespec zero {
      0, 0
    };
    if (sys_retry(SYS_ppoll, &p, 1, &zero, nullptr, 0) > 0) sys_exit_group(127);
  }
}

// Closes every fd from s.nfds up that is neither a source of the map nor the report pipe: the child starts with a
// copy of the emperor's whole table, which may be near RLIMIT_NOFILE, and the parking below needs room.
void close_unmapped(const Run& run) {
  const ChildSetup& s = run.s;
  int keep[kMaxChildFds + 1];
  int n = 0;
  for (int i = 0; i < s.nfds; i++)
    if (s.fd_map[i] >= s.nfds) keep[n++] = s.fd_map[i];
  if (run.report_fd >= s.nfds) keep[n++] = run.report_fd;
  for (int i = 1; i < n; i++)  // insertion sort: a handful of fds
    for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
      int t = keep[j];
      keep[j] = keep[j - 1];
      keep[j - 1] = t;
    }
  unsigned lo = unsigned(s.nfds);
  for (int i = 0; i < n; i++) {
    if (unsigned(keep[i]) > lo) sys(SYS_close_range, lo, unsigned(keep[i]) - 1, 0u);
    if (unsigned(keep[i]) + 1 > lo) lo = unsigned(keep[i]) + 1;
  }
  sys(SYS_close_range, lo, ~0u, 0u);
}

void map_fds(Run& run) {
  const ChildSetup& s = run.s;
  if (s.nfds < 0 || s.nfds > kMaxChildFds) fail(run, "fd_map", -EINVAL);
  close_unmapped(run);
  // Park every source (and the report pipe) above the target range first, so no dup3 clobbers a later source.
  if (run.report_fd >= 0 && run.report_fd < s.nfds) {
    long moved = sys(SYS_fcntl, run.report_fd, F_DUPFD_CLOEXEC, s.nfds);
    if (moved < 0) fail(run, "fd_map", moved);
    run.report_fd = static_cast<int>(moved);
  }
  const int report = run.report_fd;
  int parked[kMaxChildFds];
  for (int i = 0; i < s.nfds; i++) {
    parked[i] = -1;
    if (s.fd_map[i] < 0) continue;
    long r = sys(SYS_fcntl, s.fd_map[i], F_DUPFD_CLOEXEC, s.nfds);
    if (r < 0) fail(run, "fd_map", r);
    parked[i] = static_cast<int>(r);
  }
  for (int i = 0; i < s.nfds; i++) {
    if (parked[i] < 0) {
      sys(SYS_close, i);
    } else if (long r = sys(SYS_dup3, parked[i], i, 0); r < 0) {  // dup3 without flags clears FD_CLOEXEC
      fail(run, "fd_map", r);
    }
  }
  // Close everything above the map except the (close-on-exec) report pipe.
  unsigned lo = unsigned(s.nfds);
  if (report >= 0) {
    if (unsigned(report) > lo) sys(SYS_close_range, lo, unsigned(report) - 1, 0u);
    lo = unsigned(report) + 1;
  }
  if (long r = sys(SYS_close_range, lo, ~0u, 0u); r < 0) fail(run, "close_range", r);
}

}  // namespace

void report_setup_failure(int report_fd, const char* step, long neg_err) {
  SetupFailure rec{};
  rec.err = static_cast<int32_t>(-neg_err);
  for (size_t i = 0; i + 1 < sizeof rec.step && step[i]; i++) rec.step[i] = step[i];
  if (report_fd >= 0) sys_retry(SYS_write, report_fd, &rec, sizeof rec);
  sys_exit_group(127);
}

void child_setup_and_exec(const ChildSetup& s) {
  Run run{s, s.report_fd};
  reset_signals();
  if (s.mount_propagation) {
    if (long r = sys(SYS_mount, nullptr, "/", nullptr, MS_REC | s.mount_propagation, nullptr); r < 0)
      fail(run, "mount_propagation", r);
  }
  if (s.new_session) {
    if (long r = sys(SYS_setsid); r < 0) fail(run, "setsid", r);
  }
  if (s.hostname) {
    size_t n = 0;
    while (s.hostname[n]) n++;
    if (long r = sys(SYS_sethostname, s.hostname, n); r < 0) fail(run, "sethostname", r);
  }
  if (s.rlimit_nofile) {
    if (long r = sys(SYS_prlimit64, 0, RLIMIT_NOFILE, s.rlimit_nofile, nullptr); r < 0) fail(run, "setrlimit", r);
  }
  if (s.set_groups) {
    if (long r = sys(SYS_setgroups, s.ngroups, s.groups); r < 0) fail(run, "setgroups", r);
  }
  if (s.set_bounding) drop_bounding(run);
  // Keep the permitted set across the uid change so the ambient caps can be raised from it.
  if (s.ambient && s.set_uid) {
    if (long r = sys(SYS_prctl, PR_SET_KEEPCAPS, 1, 0, 0, 0); r < 0) fail(run, "keepcaps", r);
  }
  if (s.set_gid) {
    if (long r = sys(SYS_setresgid, s.gid, s.gid, s.gid); r < 0) fail(run, "setresgid", r);
  }
  if (s.set_uid) {
    if (long r = sys(SYS_setresuid, s.uid, s.uid, s.uid); r < 0) fail(run, "setresuid", r);
  }
  // Ambient capabilities survive a non-root to non-root uid change and execve: a capability-limited emperor's
  // own (setuid, setgid) must never pass into a child that did not ask for them. EINVAL: a kernel without them.
  if (s.ambient) {
    raise_ambient(run);
  } else if (long r = sys(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); r < 0 && r != -EINVAL) {
    fail(run, "cap_ambient_clear", r);
  }
  if (s.no_new_privs) {
    if (long r = sys(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); r < 0) fail(run, "no_new_privs", r);
  }
  // Linux clears the death signal on every credential change, so it is armed only now.
  arm_death_signal(run);
  if (s.cwd) {
    if (long r = sys(SYS_chdir, s.cwd); r < 0) fail(run, "chdir", r);
  }
  if (s.fd_map) map_fds(run);
  long r = sys(SYS_execve, s.file, s.argv, s.envp);
  fail(run, "execve", r);
}

}  // namespace emperor
