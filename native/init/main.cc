// The init's supervision loop: one poll over the control fd, a signalfd, the app's protocol socket, the output
// pipes (output.cc) and the mountpoint-check helper's deadline.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "init.h"

extern char** environ;

namespace init {
namespace {

const int kForwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
constexpr int kEmperorLostMercyMs = 1000;
constexpr int kAppEndedMercyMs = 3000;  // for the daemons left when the app ends on its own
constexpr int kDrainMs = 1000;

int64_t now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

int exit_code(int status) { return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status); }

void noop_handler(int) {}

// What the emperor asks of this init on its command line: emperor-init NAME [--relay-output] [--userns=FLAGS
// [--propagation=private|slave]] [--exec FILE ARGV...].
struct Args {
  bool relay = false;   // stdout and stderr relayed on the control fd
  bool userns = false;  // a user namespace of its own, and the namespaces of ns_flags inside it (userns.cc)
  uint64_t ns_flags = 0;
  unsigned long propagation = MS_PRIVATE;
  // No vassal init at all: once the namespaces are made, this program execs FILE with ARGV (a tyrant's uWSGI vassal
  // in a user namespace of its own), as pid 1 when they include a pid namespace.
  char** exec = nullptr;
};

bool parse_u64_arg(const char* text, uint64_t& out) {
  char* end;
  errno = 0;
  out = strtoull(text, &end, 10);
  return *text && errno == 0 && *end == '\0';
}

bool parse_args(int argc, char** argv, Args& a) {
  for (int i = 2; i < argc; i++) {
    const char* arg = argv[i];
    if (strcmp(arg, "--relay-output") == 0) {
      a.relay = true;
    } else if (strncmp(arg, "--userns=", 9) == 0) {
      if (!parse_u64_arg(arg + 9, a.ns_flags)) return false;
      a.userns = true;
    } else if (strcmp(arg, "--propagation=slave") == 0) {
      a.propagation = MS_SLAVE;
    } else if (strcmp(arg, "--exec") == 0) {
      a.exec = argv + i + 1;
      return a.userns && i + 2 < argc;  // FILE and argv[0] at least; --exec only makes sense with --userns
    } else if (strcmp(arg, "--propagation=private") != 0) {
      return false;
    }
  }
  return argc >= 2;
}

void say(const std::string& text) {
  std::string line = "emperor-init: " + text + "\n";
  ssize_t w = write(2, line.data(), line.size());
  (void)w;
}

// --exec: the namespaces, then the program; failures are said on stderr, as the program's own would be.
[[noreturn]] void exec_in_namespaces(const Args& a) {
  Result r = enter_user_namespace(a.ns_flags, a.propagation);
  if (!r.ok) {
    say("the vassal's user namespace: " + r.message);
    _exit(kExitStepFailed);
  }
  execve(a.exec[0], a.exec + 1, environ);
  say(std::string("execve ") + a.exec[0] + ": " + strerror(errno));
  _exit(127);
}

class Init {
 public:
  int run(const Args& args);

 private:
  [[noreturn]] void refuse_start(const Result& r);
  void setup_signals();
  void on_control();
  void on_signals();
  void on_protocol();
  void reap();
  void on_check(bool readable);
  void arm_checks();
  void run_plan(const std::string& body, size_t offset);
  [[noreturn]] void refuse_plan(const PlanError& err);
  void start_app();
  void stop_app(int mercy_ms);
  void reload_now(int mercy_ms, const std::string& body);
  bool relay(uint8_t byte);
  void settle_pending();
  void wait_until(int64_t deadline, bool (Init::*done)() const);
  bool app_gone() const { return app_ == 0; }
  bool no_children() const { return waitid(P_ALL, 0, nullptr, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD; }
  // Exits with the app's status, or `code` if the app never ran.
  [[noreturn]] void shutdown(int mercy_ms, int code);
  [[noreturn]] void destroy(int code);
  void signal_all(int sig);

  Vassal v_;
  int sigfd_ = -1;
  pid_t app_ = 0;
  int app_status_ = 0;
  bool app_exited_ = false;
  int proto_ = -1;      // the init's end of the app's UWSGI_EMPEROR_FD
  bool aware_ = false;  // the app has written a protocol byte: it gets the emperor's bytes too
  // A reload or stop byte relayed to the app, waiting for the app to act on it until the deadline.
  struct Pending {
    enum Kind { kNone, kReload, kStop } kind = kNone;
    uint8_t byte = 0;
    int mercy_ms = 0;
    int64_t deadline = 0;
    std::string plan;  // kReload: the reload message's body
  } pending_;
  bool started_ = false;
  MountChecker checker_;
};

void Init::setup_signals() {
  // pid 1 of a namespace never receives a signal whose disposition is SIG_DFL (except SIGKILL/SIGSTOP), even
  // when blocked: a handler must be installed for the signals to reach the signalfd at all.
  struct sigaction sa {};
  sa.sa_handler = noop_handler;
  sigset_t set;
  sigemptyset(&set);
  for (int sig : kForwarded) sigaddset(&set, sig);
  sigaddset(&set, SIGCHLD);
  for (int sig = 1; sig < NSIG; sig++)
    if (sigismember(&set, sig)) sigaction(sig, &sa, nullptr);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, nullptr);  // a dead emperor or app must give EPIPE, not kill the init
  sigprocmask(SIG_BLOCK, &set, nullptr);
  sigfd_ = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

void Init::run_plan(const std::string& body, size_t offset) {
  std::vector<Step> steps;
  PlanError err;
  if (!decode_plan(body.substr(offset), steps, err)) refuse_plan(err);
  for (const Step& s : steps) {
    if (s.flags & kStepAtexit) {
      v_.atexit_steps.push_back(s);
      continue;
    }
    Result r = run_step(v_, s);
    if (s.args[0] == "app" && r.ok) continue;  // reported once the app has really started
    send_step(s, r);
    if (!r.ok && (s.flags & kStepFatal)) destroy(kExitStepFailed);
  }
  if (v_.app_argv.empty()) {
    Step none;
    none.index = kNoStep;
    none.flags = kStepFatal;
    Result r = result_errno(EINVAL, "plan", "");
    r.message = "the plan has no app to run";
    send_step(none, r);
    destroy(kExitStepFailed);
  }
  start_app();
}

// A plan the init cannot run (an op it does not know, a wrong arity, broken framing) is the emperor's bug or an
// attack, not a config error: reported against the step it names, and nothing of it runs.
void Init::refuse_plan(const PlanError& err) {
  Step bad;
  bad.index = err.index;
  bad.flags = kStepFatal;
  Result r = result_errno(EPROTO, "plan", "");
  r.message = "protocol error: " + err.message;
  send_step(bad, r);
  destroy(kExitProtocol);
}

void Init::start_app() {
  int pair[2];
  Result r;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
    r = result_errno(errno, "socketpair", "");
  } else {
    app_ = init::start_app(v_, pair[1], r);
    close(pair[1]);
    if (proto_ >= 0) close(proto_);  // the previous app's, on a reload
    proto_ = pair[0];
    aware_ = false;  // a new process: it has said nothing yet
    fcntl(proto_, F_SETFL, O_NONBLOCK);
  }
  send_step(v_.app_step, r);
  if (!r.ok) destroy(kExitStepFailed);
  app_exited_ = false;
  send_app_started(app_);
  arm_checks();
}

void Init::arm_checks() {
  std::vector<std::string> paths;
  for (const Step& s : v_.mountpoint_steps) paths.push_back(s.args[1]);
  checker_.reset(paths, v_.check_ms, now_ms());
}

void Init::on_check(bool readable) {
  MountChecker::Outcome o = checker_.tick(now_ms(), readable);
  if (!o.failed) return;
  const Step& s = v_.mountpoint_steps[o.index];
  Result r = result_errno(o.err, "statfs", s.args[1]);
  if (o.err == ETIMEDOUT)
    r.message = "statfs " + s.args[1] + ": no answer within " + std::to_string(checker_.timeout_ms()) + " ms";
  send_step(s, r);
  destroy(kExitMountpoint);
}

void Init::wait_until(int64_t deadline, bool (Init::*done)() const) {
  while (!(this->*done)()) {
    int64_t left = deadline - now_ms();
    if (left <= 0) return;
    pollfd p{sigfd_, POLLIN, 0};
    poll_relaying(&p, 1, int(left));
    signalfd_siginfo si;
    while (read(sigfd_, &si, sizeof si) == sizeof si) {
    }
    reap();
  }
}

// SIGTERM to the app, SIGKILL to its whole process group after the mercy.
void Init::stop_app(int mercy_ms) {
  if (app_ == 0) return;
  kill(app_, SIGTERM);
  wait_until(now_ms() + mercy_ms, &Init::app_gone);
  if (app_ == 0) return;
  kill(-app_, SIGKILL);
  kill(app_, SIGKILL);
  wait_until(now_ms() + 60000, &Init::app_gone);
}

// Orderly end: app stopped, atexit steps run (as the vassal user, inside the namespaces), everything left killed.
void Init::shutdown(int mercy_ms, int code) {
  stop_app(mercy_ms);
  checker_.stop();
  for (const Step& s : v_.atexit_steps) send_step(s, run_step(v_, s));
  // A FUSE server unmounted by an atexit hook still writes its archive, and dies mid-write on SIGTERM (libfuse
  // has removed its handlers by then): after atexit steps, daemons get a mercy to end on their own first.
  if (!v_.atexit_steps.empty()) wait_until(now_ms() + mercy_ms, &Init::no_children);
  signal_all(SIGTERM);
  wait_until(now_ms() + mercy_ms, &Init::no_children);
  destroy(app_exited_ ? exit_code(app_status_) : code);
}

// Everything in the vassal: the whole pid namespace as its pid 1, else every child (orphans are reparented to the
// subreaper init, so daemons started by hooks are among them).
void Init::signal_all(int sig) {
  if (getpid() == 1) {
    // kill(-1) walks every process of the host, not of the namespace: with thousands of vassals stopping at once
    // that walk was a quarter of their inits' CPU. A namespace whose init has no child holds nobody else (every
    // orphan is reparented to it); what entered it with setns dies with the init anyway.
    if (!no_children()) kill(-1, sig);
    return;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/children", int(getpid()));
  FILE* f = fopen(path, "re");
  if (!f) return;
  int pid;
  while (fscanf(f, "%d", &pid) == 1) kill(pid, sig);
  fclose(f);
}

[[noreturn]] void Init::destroy(int code) {
  if (app_) kill(-app_, SIGKILL), kill(app_, SIGKILL);
  signal_all(SIGKILL);
  relay_remaining();
  flush_output(true);
  // The emperor sees this process exit (pidfd) and these last reports (socket) on two channels, in either order.
  // Half-closing and waiting for its side to close (net.Socket ends its half on EOF) means the reports were read
  // before the exit can be seen. Bounded: a stuck emperor does not keep a dead vassal around.
  ::shutdown(kControlFd, SHUT_WR);
  int64_t end = now_ms() + kDrainMs;
  for (int64_t left = kDrainMs; left > 0; left = end - now_ms()) {
    pollfd p{kControlFd, POLLIN, 0};
    if (poll(&p, 1, int(left)) <= 0) break;
    char buf[512];
    ssize_t n = read(kControlFd, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) break;
  }
  _exit(code);
}

void Init::reap() {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    if (pid == app_) {
      app_ = 0;
      app_status_ = status;
      app_exited_ = true;
      send_app_exit(status);
    } else {
      checker_.on_exit(pid);
    }
  }
}

void Init::on_control() {
  std::vector<Message> msgs;
  if (!read_messages(msgs)) shutdown(kEmperorLostMercyMs, kExitProtocol);
  for (const Message& m : msgs) {
    uint32_t mercy = 0;
    if (m.body.size() >= 4) memcpy(&mercy, m.body.data(), 4);  // little-endian hosts only, like the emperor
    if (m.type == kMsgStart && !started_) {
      started_ = true;
      run_plan(m.body, 0);
    } else if (m.type == kMsgReload && started_ && m.body.size() >= 4) {
      if (pending_.kind == Pending::kStop) continue;  // a stop under way wins
      if (pending_.kind == Pending::kReload) {
        pending_.plan = m.body;  // the latest config, within the mercy already given
      } else if (relay(kToAppReload)) {
        pending_ = Pending{Pending::kReload, kToAppReload, int(mercy), now_ms() + mercy, m.body};
      } else {
        reload_now(int(mercy), m.body);
      }
    } else if (m.type == kMsgStop && m.body.size() >= 5) {
      if (pending_.kind == Pending::kStop) continue;
      uint8_t byte = uint8_t(m.body[4]);
      if (!relay(byte)) shutdown(int(mercy), 0);
      pending_ = Pending{Pending::kStop, byte, int(mercy), now_ms() + mercy, std::string()};
    } else {
      destroy(kExitProtocol);
    }
  }
}

void Init::reload_now(int mercy_ms, const std::string& body) {
  stop_app(mercy_ms);
  // Identity, app and checks come from the new plan; sockets, mounts and namespaces stay.
  v_.creds = Creds{};
  v_.app_argv.clear();
  v_.atexit_steps.clear();
  v_.mountpoint_steps.clear();
  run_plan(body, 4);
}

// The emperor's byte to an app that has spoken the protocol; false when it is not one, or cannot be told.
bool Init::relay(uint8_t byte) {
  if (!aware_ || proto_ < 0 || app_ == 0) return false;
  ssize_t n;
  do n = write(proto_, &byte, 1);
  while (n < 0 && errno == EINTR);
  return n == 1;
}

// A relayed byte is answered by the app's exit, or (a reload) by its ready bytes (on_protocol); past the mercy the
// init does what it would have done for an app that never spoke the protocol.
void Init::settle_pending() {
  if (pending_.kind == Pending::kNone) return;
  bool gone = app_ == 0;
  if (!gone && now_ms() < pending_.deadline) return;
  Pending p = std::move(pending_);
  pending_ = Pending{};
  if (!gone) send_fallback(p.byte);
  if (p.kind == Pending::kStop) shutdown(p.mercy_ms, 0);
  reload_now(p.mercy_ms, p.plan);
}

void Init::on_signals() {
  signalfd_siginfo si;
  while (read(sigfd_, &si, sizeof si) == sizeof si) {
    if (si.ssi_signo == SIGCHLD) continue;
    if (app_)
      kill(app_, int(si.ssi_signo));
    else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
      destroy(128 + int(si.ssi_signo));
  }
  reap();
}

void Init::on_protocol() {
  unsigned char buf[256];
  ssize_t n = read(proto_, buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    close(proto_);
    proto_ = -1;
    return;
  }
  aware_ = true;
  for (ssize_t i = 0; i < n; i++) {
    send_protocol_byte(buf[i]);
    if (pending_.kind == Pending::kReload && (buf[i] == kFromAppSpawned || buf[i] == kFromAppAccepting)) {
      pending_ = Pending{};  // it reloaded itself: kept, and the reload plan is not run
      send_in_place(app_);
    }
  }
}

// The user namespace could not be made: said against no step of the plan, which has not come yet.
void Init::refuse_start(const Result& r) {
  Step none;
  none.index = kNoStep;
  none.flags = kStepFatal;
  Result said = r;
  said.message = "the vassal's user namespace: " + r.message;
  send_step(none, said);
  destroy(kExitStepFailed);
}

int Init::run(const Args& args) {
  if (args.userns) {
    Result r = enter_user_namespace(args.ns_flags, args.propagation);
    if (!r.ok) refuse_start(r);
  }
  // Nothing of this process is another's to take: not its fds through pidfd_getfd (ptrace rights, which a
  // non-dumpable process grants only to CAP_SYS_PTRACE in the user namespace of its memory: the host's, as this
  // program was exec'd there), not its /proc files. Its children are dumpable again once they exec.
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  setup_signals();
  if (args.relay) relay_output();
  if (getpid() != 1) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);  // orphans come to us, as to a real pid 1
  if (fcntl(kControlFd, F_SETFD, FD_CLOEXEC) < 0) {
    static const char msg[] = "emperor-init: fd 3 (the emperor's control socket) is not open\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    return kExitProtocol;
  }
  fcntl(kControlFd, F_SETFL, fcntl(kControlFd, F_GETFL) | O_NONBLOCK);
  for (;;) {
    settle_pending();
    if (started_ && app_ == 0 && app_exited_) shutdown(kAppEndedMercyMs, 0);
    on_check(false);
    int64_t now = now_ms();
    int64_t wake = checker_.wake_at();
    if (pending_.kind != Pending::kNone && (!wake || pending_.deadline < wake)) wake = pending_.deadline;
    int timeout = wake ? int(wake > now ? wake - now : 0) : -1;
    pollfd fds[4] = {{kControlFd, POLLIN, 0}, {sigfd_, POLLIN, 0}, {proto_, POLLIN, 0}, {checker_.fd(), POLLIN, 0}};
    int n = poll_relaying(fds, 4, timeout);  // negative fds are skipped
    if (n < 0 && errno != EINTR) return kExitProtocol;
    if (fds[3].fd >= 0 && fds[3].revents) on_check(true);
    if (fds[1].revents) on_signals();
    if (fds[0].revents) on_control();
    if (fds[2].fd >= 0 && fds[2].revents) on_protocol();
  }
}

}  // namespace
}  // namespace init

int main(int argc, char** argv) {
  init::Args args;
  if (!init::parse_args(argc, argv, args)) {
    init::say(
        "usage: emperor-init NAME [--relay-output] [--userns=CLONE_FLAGS [--propagation=private|slave]] [--exec FILE "
        "ARGV...]");
    return init::kExitProtocol;
  }
  if (args.exec) init::exec_in_namespaces(args);
  static init::Init i;
  return i.run(args);
}
