// The vassal init: pid 1 of a native vassal. It executes the jail plan the emperor sends on fd 3, runs the app,
// reaps, forwards signals, checks mountpoints and runs the atexit steps. Single-threaded by design: it may fork and
// then use any libc call in the child, and it may change its own credentials for a moment (as-user steps).
#pragma once
#include <poll.h>
#include <stdint.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace init {

// Exit codes besides the app's own status (src/jail/init-wire.ts INIT_EXIT_*; test/jail.wire.test.ts).
constexpr int kExitStepFailed = 125;  // a fatal plan step failed: a broken config, not a crash
constexpr int kExitMountpoint = 126;  // a mountpoint-check failed: the vassal is destroyed to be respawned clean
constexpr int kExitProtocol = 124;    // the emperor sent something unreadable, or went away

constexpr int kControlFd = 3;

// Step flags, as encoded by src/jail/init-wire.ts: kStepX is PlanStep.x (test/jail.wire.test.ts).
enum StepFlag : uint8_t { kStepFatal = 1, kStepAtexit = 2 };

struct OpSpec;

struct Step {
  uint32_t index = 0;  // position in the emperor's plan, echoed in reports
  uint8_t flags = 0;
  std::vector<std::string> args;  // args[0] is the op's name, its arguments follow
  const OpSpec* op = nullptr;     // found by decode_plan(), which also checked the arity
};

// A step's outcome. A failed command has ok == false but no errno.
struct Result {
  bool ok = true;
  int err = 0;
  std::string syscall;
  std::string path;
  std::string message;
};

// ---- wire.cc: framed messages on the control fd ----
// The message types of src/jail/init-wire.ts (MSG), where each body is described; test/jail.wire.test.ts checks
// that this mirrors it.
enum MsgType : uint8_t {
  kMsgStart = 'P',
  kMsgReload = 'R',
  kMsgStop = 'T',
  kMsgStep = 's',
  kMsgApp = 'a',
  kMsgExit = 'x',
  kMsgProtocol = 'p',
  kMsgInPlace = 'k',
  kMsgFallback = 'f',
  kMsgOutput = 'o',
};

// The emperor protocol bytes the init relays to an app that speaks the protocol (src/tables/uwsgi-protocol.ts
// TO_VASSAL and FROM_VASSAL; test/native.mirror.test.ts).
constexpr uint8_t kToAppReload = 1;
// What an app answers a reload with when it has reloaded itself: spawned (1) or accepting (5).
constexpr uint8_t kFromAppSpawned = 1;
constexpr uint8_t kFromAppAccepting = 5;

struct Message {
  uint8_t type = 0;
  std::string body;
};

// Every frame goes through one queue, so the relayed output and the reports keep their order. queue_frame() only
// queues; flush_output() writes what the socket takes, and with block waits until all of it is written (the
// reports: the emperor always reads). Once the emperor is gone, frames are dropped.
void queue_frame(uint8_t type, const std::string& body);
size_t pending_output();
void flush_output(bool block);
// Reads what is available on the control fd; returns false on EOF or error. Complete frames are appended to out.
bool read_messages(std::vector<Message>& out);
// Why a plan was refused: the step it names (kNoStep when the framing itself is broken) and what is wrong.
constexpr uint32_t kNoStep = 0xffffffffu;
struct PlanError {
  uint32_t index = kNoStep;
  std::string message;
};
// Every step with a known op and the arity of that op, or false with err filled: nothing of a refused plan runs.
bool decode_plan(const std::string& body, std::vector<Step>& steps, PlanError& err);
void send_step(const Step& s, const Result& r);
void send_app_started(pid_t pid);
void send_app_exit(int status);
void send_protocol_byte(uint8_t b);
void send_in_place(pid_t pid);
void send_fallback(uint8_t byte);

// ---- output.cc: stdout and stderr relayed on the control fd ----
// Makes the two pipes and puts their write ends on fds 1 and 2, for the hooks and the app; false when it cannot.
bool relay_output();
// poll(2) that also relays output while it waits: the caller's fds (at most 12) get their revents; returns how
// many of them fired, 0 at the timeout (or when only the relay's did), -1 on error.
int poll_relaying(pollfd* fds, int n, int timeout_ms);
// Everything the pipes hold now, queued in order (after a hook has ended; at the end, once the vassal is dead).
void relay_remaining();

// ---- steps.cc: one plan step at a time ----
struct Vassal;

// One op of the plan's vocabulary (the table is in steps.cc).
constexpr int kArgv = -1;  // the arity of an op whose arguments are an argv: one word at least
struct OpSpec {
  const char* name;
  int arity;  // the arguments after the op's name, or kArgv
  Result (*run)(Vassal& v, const Step& s);
};
// The op of that name, or nullptr.
const OpSpec* find_op(const std::string& name);

struct Creds {
  bool active = false;  // set by the 'creds' step: every later command runs as this user
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  bool caps = false;
  uint64_t capmask = 0;
};

struct Listener {
  int fd;
  std::string name;
};

struct Vassal {
  Creds creds;
  std::vector<Listener> listeners;
  std::vector<std::string> app_argv;  // empty = no app yet
  Step app_step;
  std::vector<Step> atexit_steps;
  std::vector<Step> mountpoint_steps;  // args: mountpoint-check PATH
  int check_ms = 1000;
};

Result run_step(Vassal& v, const Step& s);
Result run_command(const Vassal& v, const std::vector<std::string>& argv, int* status);  // waits for it
Result result_errno(int err, const char* syscall, const std::string& path);

// ---- users.cc: names from the jail's /etc/passwd and /etc/group ----
bool lookup_user(const std::string& name_or_uid, uid_t& uid, gid_t& gid, std::string& user);
bool lookup_group(const std::string& name_or_gid, gid_t& gid);
std::vector<gid_t> user_groups(const std::string& user, gid_t primary);

// ---- app.cc ----
// Starts the app described by v.app_argv; returns its pid or fills r.
pid_t start_app(const Vassal& v, int proto_child_fd, Result& r);

// ---- userns.cc ----
// A user namespace of the init's own, its ids mapped to 0 and setgroups denied (the owner's groups kept), then the
// namespaces of `flags` inside it with the mount propagation given (MS_PRIVATE or MS_SLAVE). Returns in pid 1 of the
// new pid namespace (the process that called it stays outside as the mirror of that pid 1 and never returns), or
// without CLONE_NEWPID in flags in the calling process.
Result enter_user_namespace(uint64_t flags, unsigned long propagation);

// ---- mountcheck.cc ----
// Checks that statfs() answers for every path, once per interval, with a bounded wait.
class MountChecker {
 public:
  struct Outcome {
    bool failed = false;
    size_t index = 0;  // the path that failed (0 when the helper did not answer at all)
    int err = 0;
  };
  void reset(const std::vector<std::string>& paths, int interval_ms, int64_t now);  // no paths = off
  void stop();
  void on_exit(pid_t pid);                   // the main loop reaped pid
  Outcome tick(int64_t now, bool readable);  // call on every loop turn; readable = fd() polled readable
  int fd() const { return resp_; }
  int64_t wake_at() const;  // when tick() must run next; 0 = never
  // How long a check may go unanswered before the mount counts as hung.
  int timeout_ms() const { return interval_ms_ > 1000 ? interval_ms_ : 1000; }

 private:
  bool spawn();
  std::vector<std::string> paths_;
  int interval_ms_ = 1000;
  pid_t pid_ = 0;
  int req_ = -1, resp_ = -1;
  int64_t next_ = 0, deadline_ = 0;
};

}  // namespace init
