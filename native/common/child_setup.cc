// The child half of a spawn. Only raw syscalls run here: the child of a multithreaded process may hold copies of
// locks taken by other threads, and glibc's set*id wrappers would try to signal the parent's threads (SIGSETXID),
// so credentials go through syscall(2) directly.
#include "child_setup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace emperor {
namespace {

// The report pipe may move during the fd map; the child is single-threaded with its own copy of this variable.
int g_report_fd = -1;

[[noreturn]] void fail(const ChildSetup&, const char* step, int err) {
  SetupFailure rec{};
  rec.err = err;
  for (size_t i = 0; i + 1 < sizeof rec.step && step[i]; i++) rec.step[i] = step[i];
  if (g_report_fd >= 0) {
    ssize_t n;
    do n = write(g_report_fd, &rec, sizeof rec); while (n < 0 && errno == EINTR);
  }
  _exit(127);
}

// Every disposition back to default: SIG_IGN survives execve (Node ignores SIGPIPE, uWSGI leaks SIGHUP/SIGTERM).
void reset_signals() {
  struct sigaction sa{};
  sa.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    sigaction(sig, &sa, nullptr);  // glibc refuses its two internal signals with EINVAL: they are never ignored
  }
  uint64_t empty = 0;  // the kernel's sigset is 8 bytes on every 64-bit Linux
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty, nullptr, sizeof empty);
}

void drop_bounding(const ChildSetup& s) {
  for (int cap = 0; cap < 64; cap++) {
    if (s.bounding_keep & (uint64_t{1} << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
      if (errno == EINVAL) break;  // past CAP_LAST_CAP of this kernel
      fail(s, "capbset_drop", errno);
    }
  }
}

// Ambient caps must be in both the permitted and the inheritable set before PR_CAP_AMBIENT_RAISE.
void raise_ambient(const ChildSetup& s) {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &hdr, data) < 0) fail(s, "capget", errno);
  data[0].inheritable |= uint32_t(s.ambient);
  data[1].inheritable |= uint32_t(s.ambient >> 32);
  if (syscall(SYS_capset, &hdr, data) < 0) fail(s, "capset", errno);
  for (int cap = 0; cap < 64; cap++) {
    if (!(s.ambient & (uint64_t{1} << cap))) continue;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0) fail(s, "cap_ambient_raise", errno);
  }
}

void arm_death_signal(const ChildSetup& s) {
  if (s.pdeathsig == 0) return;
  if (prctl(PR_SET_PDEATHSIG, s.pdeathsig, 0, 0, 0) < 0) fail(s, "pdeathsig", errno);
  // The parent may have died before the signal was armed; nobody reads the report then, just leave.
  if (s.expected_ppid != 0 && getppid() != s.expected_ppid) _exit(127);
  if (s.parent_pidfd >= 0) {
    struct pollfd p{s.parent_pidfd, POLLIN, 0};
    int r;
    do r = poll(&p, 1, 0); while (r < 0 && errno == EINTR);
    if (r > 0) _exit(127);
  }
}

void map_fds(const ChildSetup& s) {
  if (s.nfds < 0 || s.nfds > kMaxChildFds) fail(s, "fd_map", EINVAL);
  // Park every source (and the report pipe) above the target range first, so no dup2 clobbers a later source.
  if (g_report_fd >= 0 && g_report_fd < s.nfds) {
    int moved = fcntl(g_report_fd, F_DUPFD_CLOEXEC, s.nfds);
    if (moved < 0) fail(s, "fd_map", errno);
    g_report_fd = moved;
  }
  const int report = g_report_fd;
  int parked[kMaxChildFds];
  for (int i = 0; i < s.nfds; i++) {
    parked[i] = -1;
    if (s.fd_map[i] < 0) continue;
    parked[i] = fcntl(s.fd_map[i], F_DUPFD_CLOEXEC, s.nfds);
    if (parked[i] < 0) fail(s, "fd_map", errno);
  }
  for (int i = 0; i < s.nfds; i++) {
    if (parked[i] < 0) {
      close(i);
    } else if (dup2(parked[i], i) < 0) {  // dup2 clears FD_CLOEXEC on the target
      fail(s, "fd_map", errno);
    }
  }
  // Close everything above the map except the (close-on-exec) report pipe.
  unsigned lo = unsigned(s.nfds);
  if (report >= 0) {
    if (unsigned(report) > lo) syscall(SYS_close_range, lo, unsigned(report) - 1, 0u);
    lo = unsigned(report) + 1;
  }
  if (syscall(SYS_close_range, lo, ~0u, 0u) < 0) fail(s, "close_range", errno);
}

}  // namespace

void child_setup_and_exec(const ChildSetup& s) {
  g_report_fd = s.report_fd;
  reset_signals();
  if (s.mount_propagation && mount(nullptr, "/", nullptr, MS_REC | s.mount_propagation, nullptr) < 0)
    fail(s, "mount_propagation", errno);
  if (s.new_session && setsid() < 0) fail(s, "setsid", errno);
  if (s.hostname) {
    size_t n = 0;
    while (s.hostname[n]) n++;
    if (syscall(SYS_sethostname, s.hostname, n) < 0) fail(s, "sethostname", errno);
  }
  if (s.set_groups && syscall(SYS_setgroups, s.ngroups, s.groups) < 0) fail(s, "setgroups", errno);
  if (s.set_bounding) drop_bounding(s);
  // Keep the permitted set across the uid change so the ambient caps can be raised from it.
  if (s.ambient && s.set_uid && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) fail(s, "keepcaps", errno);
  if (s.set_gid && syscall(SYS_setresgid, s.gid, s.gid, s.gid) < 0) fail(s, "setresgid", errno);
  if (s.set_uid && syscall(SYS_setresuid, s.uid, s.uid, s.uid) < 0) fail(s, "setresuid", errno);
  // Ambient capabilities survive a non-root to non-root uid change and execve: a capability-limited emperor's
  // own (setuid, setgid) must never pass into a child that did not ask for them. EINVAL: a kernel without them.
  if (s.ambient) raise_ambient(s);
  else if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) fail(s, "cap_ambient_clear", errno);
  if (s.no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail(s, "no_new_privs", errno);
  // Linux clears the death signal on every credential change, so it is armed only now.
  arm_death_signal(s);
  if (s.cwd && chdir(s.cwd) < 0) fail(s, "chdir", errno);
  if (s.fd_map) map_fds(s);
  execve(s.file, s.argv, s.envp);
  fail(s, "execve", errno);
}

}  // namespace emperor
