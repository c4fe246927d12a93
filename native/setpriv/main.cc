// emperor-setpriv: the exec step between a privileged process and the program it starts with less privilege.
// Its input comes only from the environment (written by src/privileges.ts, never parsed from user strings):
//   EMPEROR_SETPRIV_EXEC  the program to exec, with this process's argv unchanged (required)
//   EMPEROR_SETPRIV       "UID GID G1,G2,... CAPMASK": become UID/GID with these groups, keeping only CAPMASK
//                         (bounding set and ambient, so they survive the exec as a non-root uid)
// Without EMPEROR_SETPRIV it only empties the ambient set: a capability-holding emperor's ambient caps would
// otherwise pass into what it runs through child_process (a tenant's @(exec://) in a config).
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <string>
#include <vector>
#include "child_setup.h"

extern char** environ;

namespace {

[[noreturn]] void die(const char* what, int err) {
  fprintf(stderr, "emperor-setpriv: %s: %s\n", what, err ? strerror(err) : "invalid input");
  _exit(127);
}

bool parse_u64(const char*& p, uint64_t* out, int base) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = strtoull(p, &end, base);
  if (end == p || errno) return false;
  *out = v;
  p = end;
  return true;
}

struct Spec {
  uid_t uid;
  gid_t gid;
  std::vector<gid_t> groups;
  uint64_t caps;
};

bool parse_spec(const char* p, Spec* s) {
  uint64_t v;
  if (!parse_u64(p, &v, 10) || *p++ != ' ') return false;
  s->uid = uid_t(v);
  if (!parse_u64(p, &v, 10) || *p++ != ' ') return false;
  s->gid = gid_t(v);
  while (*p != ' ') {
    if (!parse_u64(p, &v, 10)) return false;
    s->groups.push_back(gid_t(v));
    if (*p == ',')
      p++;
    else if (*p != ' ')
      return false;
  }
  p++;
  return parse_u64(p, &s->caps, 16) && *p == '\0';
}

}  // namespace

int main(int argc, char** argv) {
  (void)argc;
  const char* target = getenv("EMPEROR_SETPRIV_EXEC");
  if (!target || !*target) die("EMPEROR_SETPRIV_EXEC is not set", 0);
  std::string file = target;
  const char* spec_text = getenv("EMPEROR_SETPRIV");
  Spec spec{};
  const bool drop = spec_text != nullptr;
  if (drop && !parse_spec(spec_text, &spec)) die("EMPEROR_SETPRIV is not \"UID GID GROUPS CAPMASK\"", 0);
  unsetenv("EMPEROR_SETPRIV_EXEC");
  unsetenv("EMPEROR_SETPRIV");

  if (!drop) {
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) die("clear ambient capabilities", errno);
    execve(file.c_str(), argv, environ);
    die(file.c_str(), errno);
  }

  emperor::ChildSetup s;
  // the emperor re-execs itself in place through here: same pid, same parent, same session, same stdio
  s.new_session = false;
  int stdio[3];
  for (int fd = 0; fd < 3; fd++) stdio[fd] = fcntl(fd, F_GETFD) < 0 ? -1 : fd;  // a closed one stays closed
  s.nfds = 3;
  s.fd_map = stdio;
  s.set_groups = true;
  s.ngroups = int(spec.groups.size());
  s.groups = spec.groups.data();
  s.set_gid = true;
  s.gid = spec.gid;
  s.set_uid = true;
  s.uid = spec.uid;
  s.set_bounding = true;
  s.bounding_keep = spec.caps;
  s.ambient = spec.caps;
  // a failure is reported on stderr by the exit path below; no report pipe
  s.file = file.c_str();
  s.argv = argv;
  s.envp = environ;
  emperor::child_setup_and_exec(s);
}
