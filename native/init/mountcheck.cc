// mountpoint-check runs in a forked helper: statfs() on a hung FUSE mount never returns, and the init's own loop
// must stay free to see the deadline pass and kill the helper (a FUSE wait is killable).
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "init.h"

namespace init {

pid_t start_mountpoint_check(const Vassal& v, int report_fd) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  for (size_t i = 0; i < v.mountpoint_steps.size(); i++) {
    struct statfs st;
    if (statfs(v.mountpoint_steps[i].args[1].c_str(), &st) == 0) continue;
    int32_t rec[2] = {int32_t(i), errno};
    ssize_t w = write(report_fd, rec, sizeof rec);
    (void)w;
    _exit(1);
  }
  _exit(0);
}

}  // namespace init
