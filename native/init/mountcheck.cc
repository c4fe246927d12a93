// mountpoint-check runs in a helper process: statfs() on a hung FUSE mount never returns, and the init's loop must
// stay free to see the deadline pass and kill the helper (a FUSE wait is killable). The helper is forked once and
// then answers one request per interval, so a check costs two pipe writes, not a fork.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "init.h"

namespace init {
namespace {

[[noreturn]] void helper_loop(const std::vector<std::string>& paths, int req, int resp) {
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  char c;
  while (read(req, &c, 1) == 1) {
    int32_t rec[2] = {-1, 0};
    for (size_t i = 0; i < paths.size(); i++) {
      struct statfs st;
      if (statfs(paths[i].c_str(), &st) == 0) continue;
      rec[0] = int32_t(i);
      rec[1] = errno;
      break;
    }
    if (write(resp, rec, sizeof rec) != sizeof rec) break;
  }
  _exit(0);
}

}  // namespace

void MountChecker::reset(const std::vector<std::string>& paths, int interval_ms, int64_t now) {
  stop();
  paths_ = paths;
  interval_ms_ = interval_ms;
  next_ = paths_.empty() ? 0 : now + interval_ms_;
}

void MountChecker::stop() {
  if (pid_ > 0) kill(pid_, SIGKILL);
  if (req_ >= 0) close(req_);
  if (resp_ >= 0) close(resp_);
  pid_ = 0;
  req_ = resp_ = -1;
  deadline_ = 0;
}

void MountChecker::on_exit(pid_t pid) {
  if (pid != pid_) return;
  pid_ = 0;
  stop();  // restarted at the next interval; a pending request is answered by the new helper
}

bool MountChecker::spawn() {
  int req[2], resp[2];
  if (pipe2(req, O_CLOEXEC) < 0) return false;
  if (pipe2(resp, O_CLOEXEC) < 0) {
    close(req[0]);
    close(req[1]);
    return false;
  }
  pid_t pid = fork();
  if (pid == 0) helper_loop(paths_, req[0], resp[1]);
  close(req[0]);
  close(resp[1]);
  if (pid < 0) {
    close(req[1]);
    close(resp[0]);
    return false;
  }
  pid_ = pid;
  req_ = req[1];
  resp_ = resp[0];
  return true;
}

MountChecker::Outcome MountChecker::tick(int64_t now, bool readable) {
  Outcome out;
  if (next_ == 0) return out;
  if (deadline_ && readable) {
    int32_t rec[2];
    if (read(resp_, rec, sizeof rec) != sizeof rec) {
      stop();  // the helper died; the next interval starts a new one
    } else if (rec[0] >= 0 && size_t(rec[0]) < paths_.size()) {
      out.failed = true;
      out.index = size_t(rec[0]);
      out.err = rec[1];
      return out;
    }
    deadline_ = 0;
    next_ = now + interval_ms_;
  }
  if (deadline_ && now >= deadline_) {
    // No answer: a hung mount (a stopped FUSE daemon) is a failure too; which path hangs is unknown.
    out.failed = true;
    out.err = ETIMEDOUT;
    return out;
  }
  if (!deadline_ && now >= next_ && (pid_ > 0 || spawn())) {
    char c = 0;
    if (write(req_, &c, 1) == 1) deadline_ = now + timeout_ms();
  }
  return out;
}

int64_t MountChecker::wake_at() const { return deadline_ ? deadline_ : next_; }

}  // namespace init
