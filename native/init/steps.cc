// The plan's ops. The emperor has already resolved flag words, capability names, socket addresses and shells into
// plain values (src/jail/compile.ts); names of users and groups are resolved here, after pivot_root/chroot, so
// they come from the jail's own /etc/passwd as in uWSGI.
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"
#include "sys_ops.h"
#include "unique_fd.h"

namespace init {

Result result_errno(int err, const char* syscall, const std::string& path) {
  Result r;
  r.ok = false;
  r.err = err;
  r.syscall = syscall;
  r.path = path;
  r.message = std::string(syscall) + (path.empty() ? "" : " " + path) + ": " + strerror(err);
  return r;
}

namespace {

Result ok() { return Result{}; }

Result from_ret(int ret, const char* syscall, const std::string& path) {
  return ret < 0 ? result_errno(-ret, syscall, path) : ok();
}

Result from_errno(int ret, const char* syscall, const std::string& path) {
  return ret < 0 ? result_errno(errno, syscall, path) : ok();
}

Result bad_args(const Step& s) {
  Result r;
  r.ok = false;
  r.err = EINVAL;
  r.syscall = "plan";
  r.message = "malformed plan step '" + s.args[0] + "'";
  return r;
}

bool parse_u64(const std::string& s, uint64_t& out) {
  if (s.empty()) return false;
  char* end;
  errno = 0;
  out = strtoull(s.c_str(), &end, 10);
  return errno == 0 && *end == '\0';
}

// Runs file operations with the vassal user's filesystem identity once the 'creds' step has passed, as uWSGI does
// them after its setuid. The effective ids only: the saved uid stays 0, so the init gets root back afterwards.
class AsUser {
 public:
  explicit AsUser(const Creds& c) : active_(c.active) {
    if (!active_) return;
    saved_groups_ = getgroups(int(sizeof groups_ / sizeof groups_[0]), groups_);
    setgroups(c.groups.size(), c.groups.data());
    if (setresgid(-1, c.gid, -1) < 0 || setresuid(-1, c.uid, -1) < 0) err_ = errno;
  }
  ~AsUser() {
    if (!active_) return;
    setresuid(-1, 0, -1);
    setresgid(-1, 0, -1);
    if (saved_groups_ >= 0) setgroups(size_t(saved_groups_), groups_);
  }
  int error() const { return err_; }

 private:
  bool active_;
  int err_ = 0;
  int saved_groups_ = -1;
  gid_t groups_[64];
};

// The whole of data to fd; on a non-blocking fd (a FIFO) what does not fit now is dropped, as uWSGI's writefifo does.
Result write_all(const emperor::UniqueFd& fd, const std::string& data, const std::string& path, bool nonblocking) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd.get(), data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return nonblocking && errno == EAGAIN ? ok() : result_errno(errno, "write", path);
    off += size_t(n);
  }
  return ok();
}

Result write_file(const std::string& path, const std::string& data, int flags) {
  emperor::UniqueFd fd(open(path.c_str(), flags | O_CLOEXEC, 0666));
  if (!fd) return result_errno(errno, "open", path);
  return write_all(fd, data, path, false);
}

// A FIFO nobody reads is no error: the write is skipped.
Result write_fifo(const std::string& path, const std::string& data) {
  emperor::UniqueFd fd(open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return (errno == ENXIO || errno == ENODEV) ? ok() : result_errno(errno, "open", path);
  return write_all(fd, data, path, true);
}

// /proc/self/mounts escapes space, tab, newline and backslash as \ooo.
std::string unescape_mount_path(const char* s) {
  std::string out;
  for (; *s; s++) {
    if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] && s[3]) {
      out.push_back(char((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0')));
      s += 3;
    } else {
      out.push_back(*s);
    }
  }
  return out;
}

// uWSGI's 'rec' umount: unmount everything below target (deepest first), pass after pass, then target itself.
Result umount_recursive(const std::string& target, int flags) {
  std::string prefix = target == "/" ? "/" : target + "/";
  for (;;) {
    FILE* f = fopen("/proc/self/mounts", "re");
    if (!f) return result_errno(errno, "open", "/proc/self/mounts");
    std::vector<std::string> below;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
      char* save;
      strtok_r(line, " ", &save);
      char* mnt = strtok_r(nullptr, " ", &save);
      if (!mnt) continue;
      std::string path = unescape_mount_path(mnt);
      if (path.compare(0, prefix.size(), prefix) == 0) below.push_back(path);
    }
    fclose(f);
    int done = 0;
    for (auto it = below.rbegin(); it != below.rend(); ++it)
      if (emperor::sys_umount2(it->c_str(), flags) == 0) done++;
    if (done == 0) break;
  }
  return from_ret(emperor::sys_umount2(target.c_str(), flags), "umount2", target);
}

Result pivot_root(const std::string& new_root, const std::string& put_old) {
  // Nothing made below may propagate back to the host's mount namespace.
  if (int r = emperor::sys_mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr); r < 0)
    return result_errno(-r, "mount", "/");
  if (chdir(new_root.c_str()) < 0) return result_errno(errno, "chdir", new_root);
  if (int r = emperor::sys_pivot_root(".", put_old.c_str()); r < 0) return result_errno(-r, "pivot_root", new_root);
  return from_errno(chdir("/"), "chdir", "/");
}

Result chroot_into(const std::string& dir) {
  if (int r = emperor::sys_chroot(dir.c_str()); r < 0) return result_errno(-r, "chroot", dir);
  return from_errno(chdir("/"), "chdir", "/");
}

Result unknown(const char* syscall, const char* what, const std::string& name) {
  Result r;
  r.ok = false;
  r.err = ENOENT;
  r.syscall = syscall;
  r.path = name;
  r.message = std::string("unknown ") + what + " '" + name + "'";
  return r;
}

// creds USER GROUP ADD-GIDS INITGROUPS: the identity every later command and the app run with.
Result set_creds(Vassal& v, const Step& s) {
  Creds c = v.creds;
  std::string user;
  uid_t uid = 0;
  gid_t user_gid = 0;
  bool has_uid = !s.args[1].empty();
  if (has_uid && !lookup_user(s.args[1], uid, user_gid, user)) return unknown("getpwnam", "user", s.args[1]);
  gid_t gid = user_gid;
  if (!s.args[2].empty() && !lookup_group(s.args[2], gid)) return unknown("getgrnam", "group", s.args[2]);
  c.groups.clear();
  if (s.args[4] == "1" && !user.empty()) c.groups = user_groups(user, gid);
  size_t start = 0;
  const std::string& add = s.args[3];
  while (start < add.size()) {
    size_t comma = add.find(',', start);
    if (comma == std::string::npos) comma = add.size();
    gid_t extra;
    std::string name = add.substr(start, comma - start);
    if (!lookup_group(name, extra)) return unknown("getgrnam", "group", name);
    c.groups.push_back(extra);
    start = comma + 1;
  }
  c.active = true;
  c.uid = has_uid ? uid : getuid();
  c.gid = (has_uid || !s.args[2].empty()) ? gid : getgid();
  v.creds = c;
  return ok();
}

// An address of a listen step, ready for bind(2).
struct BindAddress {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int domain = 0;
};

// listen FAMILY ADDRESS PORT NAME
Result parse_listen_address(const Step& s, BindAddress& a) {
  const std::string& family = s.args[1];
  const std::string& addr = s.args[2];
  uint64_t port = 0;
  if (family != "unix" && (!parse_u64(s.args[3], port) || port > 65535)) return bad_args(s);
  if (family == "inet") {
    auto* in = reinterpret_cast<sockaddr_in*>(&a.ss);
    in->sin_family = a.domain = AF_INET;
    in->sin_port = htons(uint16_t(port));
    if (inet_pton(AF_INET, addr.c_str(), &in->sin_addr) != 1) return result_errno(EINVAL, "inet_pton", addr);
    a.len = sizeof *in;
  } else if (family == "inet6") {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.ss);
    in6->sin6_family = a.domain = AF_INET6;
    in6->sin6_port = htons(uint16_t(port));
    if (inet_pton(AF_INET6, addr.c_str(), &in6->sin6_addr) != 1) return result_errno(EINVAL, "inet_pton", addr);
    a.len = sizeof *in6;
  } else if (family == "unix") {
    auto* un = reinterpret_cast<sockaddr_un*>(&a.ss);
    un->sun_family = a.domain = AF_UNIX;
    if (addr.empty() || addr.size() >= sizeof un->sun_path) return result_errno(ENAMETOOLONG, "bind", addr);
    memcpy(un->sun_path, addr.data(), addr.size());
    if (addr[0] == '@')
      un->sun_path[0] = '\0';  // abstract namespace
    else
      unlink(addr.c_str());  // a stale socket file from a previous run
    a.len = socklen_t(offsetof(sockaddr_un, sun_path) + addr.size());
  } else {
    return bad_args(s);
  }
  return ok();
}

Result listen_on(Vassal& v, const Step& s) {
  BindAddress a;
  if (Result r = parse_listen_address(s, a); !r.ok) return r;
  std::string where = a.domain == AF_UNIX ? s.args[2] : s.args[2] + ":" + s.args[3];
  emperor::UniqueFd fd(socket(a.domain, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return result_errno(errno, "socket", where);
  int one = 1;
  if (a.domain != AF_UNIX) setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&a.ss), a.len) < 0) return result_errno(errno, "bind", where);
  if (listen(fd.get(), SOMAXCONN) < 0) return result_errno(errno, "listen", where);
  v.listeners.push_back(Listener{fd.release(), s.args[4]});
  return ok();
}

// inherit FD NAME: a listening socket the emperor bound (on demand), handed over like the ones bound here
Result inherit(Vassal& v, const Step& s) {
  uint64_t fd;
  if (!parse_u64(s.args[1], fd) || fd > 1024) return bad_args(s);
  if (fcntl(int(fd), F_SETFD, FD_CLOEXEC) < 0) return result_errno(errno, "fcntl", s.args[1]);
  v.listeners.push_back(Listener{int(fd), s.args[2]});
  return ok();
}

// mount FSTYPE SOURCE TARGET FLAGS DATA
Result mount_step(Vassal&, const Step& s) {
  uint64_t flags;
  if (!parse_u64(s.args[4], flags)) return bad_args(s);
  const char* fstype = s.args[1] == "none" || s.args[1].empty() ? nullptr : s.args[1].c_str();
  const char* data = s.args[5].empty() ? nullptr : s.args[5].c_str();
  return from_ret(emperor::sys_mount(s.args[2].c_str(), s.args[3].c_str(), fstype, flags, data), "mount", s.args[3]);
}

// umount TARGET FLAGS RECURSIVE
Result umount_step(Vassal&, const Step& s) {
  uint64_t flags;
  if (!parse_u64(s.args[2], flags)) return bad_args(s);
  if (s.args[3] == "1") return umount_recursive(s.args[1], int(flags));
  return from_ret(emperor::sys_umount2(s.args[1].c_str(), int(flags)), "umount2", s.args[1]);
}

Result exec_step(const Vassal& v, const Step& s, bool safe) {
  std::vector<std::string> argv(s.args.begin() + 1, s.args.end());
  int status = 0;
  Result r = run_command(v, argv, &status);
  if (!r.ok || safe || status == 0) return r;
  r.ok = false;
  r.syscall = "exec";
  r.path = argv.back();
  r.message = WIFEXITED(status) ? "command exited with status " + std::to_string(WEXITSTATUS(status))
                                : "command killed by signal " + std::to_string(WTERMSIG(status));
  return r;
}

// A file operation with the vassal user's filesystem identity once the 'creds' step has passed.
template <typename F>
Result as_user(const Vassal& v, const std::string& path, F op) {
  AsUser as(v.creds);
  if (as.error()) return result_errno(as.error(), "seteuid", path);
  return op();
}

Result chmod_to(const std::string& path, mode_t mode) { return from_errno(chmod(path.c_str(), mode), "chmod", path); }

// The libc calls of call:/callret: (src/jail/plan.ts LIBC_CALLS mirrors this table).
struct LibcCall {
  const char* name;
  int (*call)(const char* arg);
};
const LibcCall kLibcCalls[] = {
    {"chdir", [](const char* a) { return chdir(a); }},           {"chroot", [](const char* a) { return chroot(a); }},
    {"putenv", [](const char* a) { return putenv(strdup(a)); }},  // the environment keeps the string itself
    {"unsetenv", [](const char* a) { return unsetenv(a); }},     {"unlink", [](const char* a) { return unlink(a); }},
    {"rmdir", [](const char* a) { return rmdir(a); }},           {"umount", [](const char* a) { return umount(a); }},
};

// call SYMBOL ARG CHECK: uWSGI's call:/callret: hooks, which dlsym a symbol of the uWSGI process and call it with
// one string. This static init has no dlsym: kLibcCalls is its table. CHECK "1" (callret:) fails the step on a
// non-zero return; call: ignores it, as uWSGI does, and only says it in the report.
Result call_step(Vassal& v, const Step& s) {
  const std::string& sym = s.args[1];
  const std::string& arg = s.args[2];
  const LibcCall* call = nullptr;
  for (const LibcCall& c : kLibcCalls)
    if (sym == c.name) call = &c;
  if (!call) return bad_args(s);
  int ret = 0, err = 0;
  Result r = as_user(v, arg, [&] {
    errno = 0;
    ret = call->call(arg.c_str());
    err = errno;
    return ok();
  });
  if (!r.ok || ret == 0) return r;
  r.ok = s.args[3] != "1";
  r.err = err;
  r.syscall = sym;
  r.path = arg;
  r.message = sym + "(" + arg + ") returned " + std::to_string(ret) + (err ? std::string(": ") + strerror(err) : "");
  return r;
}

// The file ops: OP PATH [ARGS...], run on PATH with the vassal user's filesystem identity once 'creds' has passed.
template <Result (*Op)(const Step& s, const std::string& path)>
Result on_path(Vassal& v, const Step& s) {
  return as_user(v, s.args[1], [&] { return Op(s, s.args[1]); });
}

Result chdir_to(const Step&, const std::string& p) { return from_errno(chdir(p.c_str()), "chdir", p); }
Result make_dir(const Step&, const std::string& p) { return from_errno(mkdir(p.c_str(), 0777), "mkdir", p); }
Result unlink_path(const Step&, const std::string& p) { return from_errno(unlink(p.c_str()), "unlink", p); }
Result create_file(const Step&, const std::string& p) { return write_file(p, "", O_WRONLY | O_CREAT | O_TRUNC); }
Result write_text(const Step& s, const std::string& p) {
  return write_file(p, s.args[2], O_WRONLY | O_CREAT | O_TRUNC);
}
Result append_text(const Step& s, const std::string& p) {
  return write_file(p, s.args[2], O_WRONLY | O_CREAT | O_APPEND);
}
Result write_to_fifo(const Step& s, const std::string& p) { return write_fifo(p, s.args[2]); }

Result set_sticky(const Step&, const std::string& p) {
  struct stat st;
  if (stat(p.c_str(), &st) < 0) return result_errno(errno, "stat", p);
  return chmod_to(p, mode_t((st.st_mode & 07777) | S_ISVTX));
}

Result chmod_path(const Step& s, const std::string& p) {
  uint64_t mode;
  if (!parse_u64(s.args[2], mode) || mode > 07777) return bad_args(s);
  return chmod_to(p, mode_t(mode));
}

Result chown_path(const Step& s, const std::string& p) {
  uid_t uid;
  gid_t gid, ugid;
  std::string user;
  if (!lookup_user(s.args[2], uid, ugid, user)) return unknown("getpwnam", "user", s.args[2]);
  if (!lookup_group(s.args[3], gid)) return unknown("getgrnam", "group", s.args[3]);
  return from_errno(chown(p.c_str(), uid, gid), "chown", p);
}

// The plan's vocabulary: one row per op, its arity (the arguments after the op's name; kArgv: an argv of one word
// at least) and its handler. src/jail/plan.ts PLAN_OP_ARITY is the same table; test/jail.vocabulary.test.ts reads
// both. decode_plan() refuses an unknown op or a wrong arity before any step runs.
const OpSpec kOps[] = {
    {"exec", kArgv, [](Vassal& v, const Step& s) { return exec_step(v, s, false); }},
    {"safeexec", kArgv, [](Vassal& v, const Step& s) { return exec_step(v, s, true); }},
    {"app", kArgv,
     [](Vassal& v, const Step& s) {
       v.app_argv.assign(s.args.begin() + 1, s.args.end());
       v.app_step = s;
       return ok();
     }},
    {"print", 1,
     [](Vassal&, const Step& s) {
       std::string line = s.args[1] + "\n";
       ssize_t w = write(1, line.data(), line.size());
       (void)w;
       return ok();
     }},
    {"putenv", 2,
     [](Vassal&, const Step& s) {
       return from_errno(setenv(s.args[1].c_str(), s.args[2].c_str(), 1), "setenv", s.args[1]);
     }},
    {"mount", 5, mount_step},
    {"umount", 3, umount_step},
    {"call", 3, call_step},
    {"pivot_root", 2, [](Vassal&, const Step& s) { return pivot_root(s.args[1], s.args[2]); }},
    {"chroot", 1, [](Vassal&, const Step& s) { return chroot_into(s.args[1]); }},
    {"hostname", 1,
     [](Vassal&, const Step& s) {
       return from_ret(emperor::sys_sethostname(s.args[1].c_str()), "sethostname", s.args[1]);
     }},
    {"unshare", 1,
     [](Vassal&, const Step& s) {
       uint64_t flags;
       if (!parse_u64(s.args[1], flags)) return bad_args(s);
       return from_errno(unshare(int(flags)), "unshare", "");
     }},
    {"creds", 4, set_creds},
    {"cap", 1,
     [](Vassal& v, const Step& s) {
       uint64_t mask;
       if (!parse_u64(s.args[1], mask)) return bad_args(s);
       v.creds.caps = true;
       v.creds.capmask = mask;
       return ok();
     }},
    {"listen", 4, listen_on},
    {"inherit", 2, inherit},
    {"mountpoint-check", 1,
     [](Vassal& v, const Step& s) {
       v.mountpoint_steps.push_back(s);
       return ok();
     }},
    {"check-interval", 1,
     [](Vassal& v, const Step& s) {
       uint64_t ms;
       if (!parse_u64(s.args[1], ms) || ms == 0 || ms > INT32_MAX) return bad_args(s);
       v.check_ms = int(ms);
       return ok();
     }},
    {"chdir", 1, on_path<chdir_to>},
    {"mkdir", 1, on_path<make_dir>},
    {"unlink", 1, on_path<unlink_path>},
    {"create", 1, on_path<create_file>},
    {"sticky", 1, on_path<set_sticky>},
    {"write", 2, on_path<write_text>},
    {"append", 2, on_path<append_text>},
    {"writefifo", 2, on_path<write_to_fifo>},
    {"chmod", 2, on_path<chmod_path>},
    {"chown", 3, on_path<chown_path>},
};

}  // namespace

const OpSpec* find_op(const std::string& name) {
  for (const OpSpec& op : kOps)
    if (name == op.name) return &op;
  return nullptr;
}

Result run_step(Vassal& v, const Step& s) { return s.op ? s.op->run(v, s) : bad_args(s); }

}  // namespace init
