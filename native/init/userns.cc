// A tyrant vassal's user namespace, made by the init itself (emperor-init NAME --userns=FLAGS --propagation=P), for
// a native vassal (the init runs in it) or a uWSGI one (--exec: uWSGI is exec'd in it).
//
// Why here and not in the addon's clone: the emperor spawns the init as the file's owner, with the owner's groups
// already set (host root did that, before any namespace). The init then does what an unprivileged `unshare -r`
// does: a new user namespace, "deny" written to its setgroups before its gid_map, and the single mappings "0 UID 1"
// and "0 GID 1" of its own ids. A namespace created at clone time (by root) starts with the emperor's groups, and a
// setgroups() inside it could only drop groups: the owner's negative groups (a file 0604 root:blocked that her own
// shell cannot read) were lost. Here they stay, frozen: setgroups is denied in the namespace for good. The maps can
// only be written from a process of our own (a fresh memory, dumpable, owned by the owner): the addon's child shares
// the emperor's memory, which its uid change makes non-dumpable and so root's in /proc.
//
// The other namespaces (pid, mount, and whatever emperor-use-clone names) are created after it, so they belong to
// it: the vassal's root mounts proc, tmpfs and FUSE there. A new pid namespace applies to the children of the
// process that makes it, so the init forks: the child is pid 1 and runs the vassal (the init's loop, or uWSGI); this
// process (the one the emperor spawned, holding its pidfd, its death signal and its cgroup, which the child
// inherits) stays outside as a mirror of it. It keeps no descriptor of the emperor's, passes on the signals the
// emperor may send, and exits as the child did, so the emperor sees the init's own exit status. Its death kills the
// child (PR_SET_PDEATHSIG), and with it the whole pid namespace.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <utility>

#include "init.h"
#include "sys_ops.h"
#include "unique_fd.h"

namespace init {
namespace {

// The signals the emperor (or an operator) may send the init's pid, passed on to pid 1.
const int kPassedOn[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

Result write_self(const char* file, const std::string& text) {
  std::string path = std::string("/proc/self/") + file;
  emperor::UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return result_errno(errno, "open", path);
  ssize_t n = write(fd.get(), text.data(), text.size());
  if (n != ssize_t(text.size())) return result_errno(n < 0 ? errno : EIO, "write", path);
  return Result{};
}

// The owner's ids become 0 inside; setgroups is denied first, so the groups the owner has now are kept for good.
Result map_own_ids() {
  const std::string uid = std::to_string(getuid()), gid = std::to_string(getgid());
  if (unshare(CLONE_NEWUSER) < 0) return result_errno(errno, "unshare", "");
  Result r = write_self("setgroups", "deny");
  if (r.ok) r = write_self("uid_map", "0 " + uid + " 1");
  if (r.ok) r = write_self("gid_map", "0 " + gid + " 1");
  return r;
}

Result make_namespaces(uint64_t flags, unsigned long propagation) {
  if (Result r = map_own_ids(); !r.ok) return r;
  if (unshare(int(flags & ~uint64_t(CLONE_NEWUSER))) < 0) return result_errno(errno, "unshare", "");
  if (!(flags & CLONE_NEWNS)) return Result{};
  // Nothing mounted in the vassal may propagate back to the host (private), or host mounts still reach it (slave).
  if (int e = emperor::sys_mount(nullptr, "/", nullptr, MS_REC | propagation, nullptr); e < 0)
    return result_errno(-e, "mount", "/");
  return Result{};
}

// The outside process from the fork on: signals passed on to pid 1, then its exit status made ours.
[[noreturn]] void mirror(pid_t inner, const sigset_t& watched) {
  close_range(0, ~0u, 0);  // the emperor's control socket is pid 1's alone
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  int sigfd = signalfd(-1, &watched, SFD_CLOEXEC);
  for (;;) {
    signalfd_siginfo si;
    if (sigfd >= 0 && read(sigfd, &si, sizeof si) == sizeof si && si.ssi_signo != SIGCHLD)
      kill(inner, int(si.ssi_signo));
    int status;
    pid_t done = waitpid(inner, &status, sigfd >= 0 ? WNOHANG : 0);
    if (done != inner) continue;
    if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
    int sig = WTERMSIG(status);
    signal(sig, SIG_DFL);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    sigprocmask(SIG_UNBLOCK, &one, nullptr);
    kill(getpid(), sig);
    _exit(128 + sig);  // a signal that does not end a process by default
  }
}

// In pid 1: it dies with the outside process, which may already be gone (getppid() says 0 across the namespaces).
void die_with(emperor::UniqueFd outer_pidfd) {
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  pollfd p{outer_pidfd.get(), POLLIN, 0};
  if (poll(&p, 1, 0) > 0) _exit(kExitProtocol);
}

}  // namespace

Result enter_user_namespace(uint64_t flags, unsigned long propagation) {
  if (Result r = make_namespaces(flags, propagation); !r.ok) return r;
  if (!(flags & CLONE_NEWPID)) return Result{};  // no pid 1 to make: this process goes on in the namespaces
  sigset_t watched, old;
  sigemptyset(&watched);
  for (int sig : kPassedOn) sigaddset(&watched, sig);
  sigaddset(&watched, SIGCHLD);
  // Blocked before the fork: a signal that comes meanwhile waits for the signalfd (pid 1 sets its own mask up).
  sigprocmask(SIG_BLOCK, &watched, &old);
  emperor::UniqueFd outer(int(syscall(SYS_pidfd_open, getpid(), 0)));
  if (!outer) return result_errno(errno, "pidfd_open", "");
  pid_t pid = fork();
  if (pid < 0) return result_errno(errno, "fork", "");
  if (pid > 0) mirror(pid, watched);
  die_with(std::move(outer));
  sigprocmask(SIG_SETMASK, &old, nullptr);
  return Result{};
}

}  // namespace init
