// Starting processes from the init: hook commands (waited for) and the app (supervised by the main loop).
// The init is single-threaded, so the forked child may still format its own LISTEN_PID before the raw setup.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child_setup.h"
#include "init.h"
#include "unique_fd.h"

extern char** environ;

namespace init {
namespace {

struct Launch {
  std::vector<std::string> argv;
  std::string file;  // what is executed; empty = argv[0] (argv[0] stays as the user wrote it, as with execvp)
  std::vector<int> fds{0, 1, 2};
  std::vector<std::string> env;  // empty = the init's environment
  bool listen_pid = false;
};

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(&s[0]);
  out.push_back(nullptr);
  return out;
}

// Forks and execs; returns the pid, or 0 with r filled when the child reported a setup failure.
pid_t launch(const Vassal& v, Launch& l, Result& r) {
  std::vector<char*> argv = c_strings(l.argv);
  std::vector<char*> envp;
  if (!l.env.empty()) envp = c_strings(l.env);
  emperor::ChildSetup cs;
  cs.pdeathsig = SIGKILL;
  cs.expected_ppid = getpid();
  cs.nfds = int(l.fds.size());
  cs.fd_map = l.fds.data();
  cs.file = l.file.empty() ? argv[0] : l.file.c_str();
  cs.argv = argv.data();
  cs.envp = l.env.empty() ? environ : envp.data();
  const Creds& c = v.creds;
  if (c.active) {
    cs.set_groups = true;
    cs.ngroups = int(c.groups.size());
    cs.groups = c.groups.data();
    cs.set_gid = cs.set_uid = true;
    cs.gid = c.gid;
    cs.uid = c.uid;
  }
  if (c.caps) {
    cs.set_bounding = true;
    cs.bounding_keep = c.capmask;
    // Root keeps its permitted set anyway; a user only keeps what is raised as ambient.
    if (c.active && c.uid != 0) cs.ambient = c.capmask;
  }
  emperor::UniqueFd report_rd, report_wr;
  if (!emperor::make_pipe(report_rd, report_wr, O_CLOEXEC)) {
    r = result_errno(errno, "pipe2", "");
    return 0;
  }
  cs.report_fd = report_wr.get();
  pid_t pid = fork();
  if (pid == 0) {
    if (l.listen_pid) {
      // envp's last entry was reserved for LISTEN_PID (see start_app); fill it with the child's own pid.
      static char buf[32];
      memcpy(buf, "LISTEN_PID=", 11);
      char digits[16];
      int n = 0;
      for (pid_t p = getpid(); p > 0; p /= 10) digits[n++] = char('0' + p % 10);
      int k = 11;
      while (n) buf[k++] = digits[--n];
      buf[k] = '\0';
      envp[envp.size() - 2] = buf;
    }
    emperor::child_setup_and_exec(cs);
  }
  if (pid < 0) {
    r = result_errno(errno, "fork", l.argv[0]);
    return 0;
  }
  report_wr.reset();  // the child's copy alone is left: EOF once it has exec'd
  emperor::SetupFailure rec{};
  ssize_t got;
  do got = read(report_rd.get(), &rec, sizeof rec);
  while (got < 0 && errno == EINTR);
  if (got != ssize_t(sizeof rec)) return pid;
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  rec.step[sizeof rec.step - 1] = '\0';
  r = result_errno(rec.err, "", l.argv[0]);
  r.syscall = rec.step;
  r.message = std::string(rec.step) + " " + l.argv[0] + ": " + strerror(rec.err);
  return 0;
}

// execvp's search, done in the init (after pivot_root) because the child only calls execve.
std::string find_in_path(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t colon = dirs.find(':', start);
    if (colon == std::string::npos) colon = dirs.size();
    std::string dir = dirs.substr(start, colon - start);
    std::string full = (dir.empty() ? "." : dir) + "/" + name;
    if (access(full.c_str(), X_OK) == 0) return full;
    start = colon + 1;
  }
  return name;  // execve reports ENOENT with the name the user wrote
}

bool is_replaced_var(const char* e) {
  static const char* const names[] = {"LISTEN_FDS=", "LISTEN_PID=", "LISTEN_FDNAMES=", "UWSGI_EMPEROR_FD=", "PWD="};
  for (const char* n : names)
    if (strncmp(e, n, strlen(n)) == 0) return true;
  return false;
}

}  // namespace

Result run_command(const Vassal& v, const std::vector<std::string>& argv, int* status) {
  Launch l;
  l.argv = argv;
  Result r;
  pid_t pid = launch(v, l, r);
  if (pid == 0) return r;
  // its output is relayed while it runs: a hook that writes more than a pipe holds must not wait for ever
  for (;;) {
    pid_t got = waitpid(pid, status, WNOHANG);
    if (got == pid || (got < 0 && errno != EINTR)) break;
    poll_relaying(nullptr, 0, 10);
  }
  relay_remaining();  // its last lines before the report of its step
  return r;
}

pid_t start_app(const Vassal& v, int proto_child_fd, Result& r) {
  Launch l;
  l.argv = v.app_argv;
  l.file = find_in_path(v.app_argv[0]);
  for (char** e = environ; *e; e++)
    if (!is_replaced_var(*e)) l.env.push_back(*e);
  std::string names;
  for (const auto& s : v.listeners) {
    l.fds.push_back(s.fd);
    names += (names.empty() ? "" : ":") + s.name;
  }
  l.fds.push_back(proto_child_fd);
  l.env.push_back("UWSGI_EMPEROR_FD=" + std::to_string(l.fds.size() - 1));
  // What /bin/sh would export for a binary patch: the compiler runs a plain command without it (compile.ts)
  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof cwd)) l.env.push_back(std::string("PWD=") + cwd);
  if (!v.listeners.empty()) {
    l.env.push_back("LISTEN_FDS=" + std::to_string(v.listeners.size()));
    l.env.push_back("LISTEN_FDNAMES=" + names);
    l.env.push_back("LISTEN_PID=");  // filled in by the child
    l.listen_pid = true;
  }
  return launch(v, l, r);
}

}  // namespace init
