// EXEC: `/bin/sh -c command` in cwd, as this process (so as the tenant, without capabilities), in a process group of
// its own, with a deadline and an output limit. uWSGI reads until EOF and then waits for the shell, both forever;
// here both are bounded, and the whole group is killed at the end, so no background grandchild outlives the read.
// The client hanging up ends it too: an agent exits when its channel closes, an exec in progress included.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

namespace agent {
namespace {

// After SIGKILL: a shell stuck in the kernel (a hung FUSE read) cannot die yet; the main loop reaps it once it has.
constexpr int kReapGraceMs = 100;

int64_t now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

int left_ms(int64_t deadline) {
  int64_t left = deadline - now_ms();
  return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : int(left);
}

enum class Wait { kReady, kTimeout, kClientGone };

// Until fd polls readable (for a pidfd: the process has exited), the deadline, or the client's hang-up on the
// agent's socket (its next request, if any, is not looked at: the client sends one at a time).
Wait wait_for(int fd, int64_t deadline) {
  for (;;) {
    pollfd p[2] = {{fd, POLLIN, 0}, {kSocketFd, POLLRDHUP, 0}};
    int r = poll(p, 2, left_ms(deadline));
    if (r > 0 && (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR))) return Wait::kClientGone;
    if (r > 0) return Wait::kReady;
    if (r == 0 || errno != EINTR) return Wait::kTimeout;
  }
}

// True once fd polls readable, false at the deadline (the client is not watched).
bool readable_by(int fd, int64_t deadline) {
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, left_ms(deadline));
    if (r > 0) return true;
    if (r == 0 || errno != EINTR) return false;
  }
}

// The shell first: until it has called setsid() -pid names no group, and once it has a SIGKILL pending it can no
// longer fork; then its group, for what it started before.
void kill_all(pid_t pid) {
  kill(pid, SIGKILL);
  kill(-pid, SIGKILL);
}

[[noreturn]] void run_child(const std::string& command, int out) {
  setsid();
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(null, 2) < 0) _exit(127);
  syscall(SYS_close_range, 3u, ~0u, 0u);
  const char* argv[] = {"sh", "-c", command.c_str(), nullptr};
  execve("/bin/sh", const_cast<char* const*>(argv), environ);
  _exit(127);
}

}  // namespace

bool op_exec(const std::string& command, const std::string& cwd, uint32_t timeout_ms, uint32_t limit) {
  const int64_t deadline = now_ms() + timeout_ms;
  int out[2];
  if (pipe2(out, O_CLOEXEC) < 0) return send_errno(errno);
  // chdir here rather than in the child, where a failure could not be answered; the agent's own cwd is /
  if (chdir(cwd.c_str()) < 0) {
    int err = errno;
    close(out[0]);
    close(out[1]);
    return send_errno(err);
  }
  pid_t pid = fork();
  if (pid == 0) run_child(command, out[1]);
  int fork_err = errno;
  int back = chdir("/");  // the agent's cwd from the start, searchable by whoever it runs as
  (void)back;
  close(out[1]);
  int pidfd = pid > 0 ? int(syscall(SYS_pidfd_open, pid, 0)) : -1;
  if (pidfd < 0) {
    int err = pid < 0 ? fork_err : errno;
    if (pid > 0) kill_all(pid);
    close(out[0]);
    return send_errno(err);
  }

  Answer a(kOk);
  a.u32(0);  // the wait status, filled in at the end
  const size_t start = a.buf.size();
  int err = 0;
  Wait w = Wait::kReady;
  char buf[65536];
  for (;;) {
    if ((w = wait_for(out[0], deadline)) != Wait::kReady) {
      err = ETIMEDOUT;
      break;
    }
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) err = errno;
    if (n <= 0) break;
    if (a.buf.size() - start + size_t(n) > limit) {
      err = EFBIG;
      break;
    }
    a.buf.append(buf, size_t(n));
  }
  close(out[0]);
  // After EOF the shell gets what is left of the deadline to exit. It is reaped only after its group is killed: until
  // then its pid cannot be reused, so -pid names that group and nothing else.
  if (!err && (w = wait_for(pidfd, deadline)) != Wait::kReady) err = ETIMEDOUT;
  kill_all(pid);
  int status = 0;
  if (readable_by(pidfd, now_ms() + kReapGraceMs)) waitpid(pid, &status, WNOHANG);
  close(pidfd);
  if (w == Wait::kClientGone) return false;  // nobody to answer: the agent exits
  if (err) return send_errno(err);
  for (int i = 0; i < 4; i++) a.buf[start - 4 + i] = char(uint32_t(status) >> (8 * i));
  return send(a);
}

}  // namespace agent
