// OPEN: a file opened once, by a walk from / that follows every symlink itself (at most kMaxLinks, O_NOFOLLOW at
// every step), and the facts that say whose it is: fstat of the descriptor whose bytes are read, the lstat of the
// path's own last name, every directory and symlink on the way, and for each of them the FUSE mount's user_id when
// it is on FUSE (its daemon can report any owner and serve any bytes). src/file-identity.ts decides on those facts,
// on the emperor's side. Every lookup is made with this process's credentials: the kernel still decides what the
// owner may open.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "agent.h"

namespace agent {
namespace {

constexpr long kFuseSuperMagic = 0x65735546;
constexpr size_t kMaxMountinfo = 16u << 20;

// An fd that is closed when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(-1); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

// The user_id option of each FUSE superblock, by device number ("major:minor"), read from /proc/self/mountinfo the
// first time a FUSE file is met (a superblock's options are the same on every mount of it).
class FuseOwners {
 public:
  int64_t of(int fd, const struct stat& st) {
    struct statfs sf;
    if (fstatfs(fd, &sf) < 0) return kFuseOwnerUnknown;  // whatever it is, nobody can say whose it is
    if (sf.f_type != kFuseSuperMagic) return kNotFuse;
    if (!loaded_) load();
    char dev[32];
    snprintf(dev, sizeof dev, "%u:%u", major(st.st_dev), minor(st.st_dev));
    for (const auto& o : owners_)
      if (o.first == dev) return o.second;
    return kFuseOwnerUnknown;
  }

 private:
  void load() {
    loaded_ = true;
    Fd f(open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC));
    if (f.get() < 0) return;
    std::string text;
    char buf[65536];
    ssize_t n;
    while ((n = read(f.get(), buf, sizeof buf)) != 0 && text.size() < kMaxMountinfo) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return;
      text.append(buf, size_t(n));
    }
    for (size_t at = 0; at < text.size();) {
      size_t end = text.find('\n', at);
      if (end == std::string::npos) end = text.size();
      line(text.substr(at, end - at));
      at = end + 1;
    }
  }

  // "id parent major:minor root mountpoint options [optional...] - fstype source super-options": fields are
  // separated by single spaces (spaces inside them are written \040).
  void line(const std::string& l) {
    std::vector<std::string> f;
    for (size_t at = 0; at <= l.size();) {
      size_t sp = l.find(' ', at);
      if (sp == std::string::npos) sp = l.size();
      f.push_back(l.substr(at, sp - at));
      at = sp + 1;
    }
    size_t dash = 6;
    while (dash < f.size() && f[dash] != "-") dash++;
    if (f.size() < 3 || dash + 3 >= f.size()) return;
    const std::string& type = f[dash + 1];
    if (type != "fuse" && type != "fuseblk" && type.compare(0, 5, "fuse.") != 0) return;
    const std::string opts = "," + f[dash + 3] + ",";
    size_t u = opts.find(",user_id=");
    if (u == std::string::npos) return;
    owners_.emplace_back(f[2], strtoll(opts.c_str() + u + 9, nullptr, 10));
  }

  bool loaded_ = false;
  std::vector<std::pair<std::string, int64_t>> owners_;
};

struct Step {
  uint8_t type;
  struct stat st;
  int64_t fuse;
  std::string path;
};

// A name left to walk, and whether it is one of the asked path's own (not of a symlink's target).
using Names = std::deque<std::pair<std::string, bool>>;

// Puts the names of p in front of what is left to walk, in order. A trailing '/' asks for a directory, as in a
// path lookup: it walks on to '.'.
void push_names(Names& todo, const std::string& p, bool asked) {
  std::vector<std::string> names;
  for (size_t at = 0; at < p.size();) {
    size_t sl = p.find('/', at);
    if (sl == std::string::npos) sl = p.size();
    if (sl > at) names.push_back(p.substr(at, sl - at));
    at = sl + 1;
  }
  if (p.size() > 1 && p.back() == '/') names.push_back(".");
  for (auto it = names.rbegin(); it != names.rend(); ++it) todo.emplace_front(*it, asked);
}

std::string path_of(const std::vector<std::string>& at, const std::string& name = "") {
  std::string p;
  for (const auto& n : at) p += "/" + n;
  if (!name.empty()) p += "/" + name;
  return p.empty() ? "/" : p;
}

void put_fuse(Answer& a, int64_t fuse) { a.u64(uint64_t(fuse)); }

// The answer for the regular file `name`, found by its O_PATH descriptor `found` in the directory `at`.
Answer file_answer(int found, const std::string& real, bool entry_link, const struct stat& entry,
                   const std::vector<Step>& steps, FuseOwners& fuse, uint32_t limit) {
  // opened again by its descriptor, not by its name: the file that was looked at is the one read, and nothing
  // else is ever opened (a device swapped in would be)
  char proc[48];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", found);
  Fd file(open(proc, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (file.get() < 0) return errno_answer(errno);
  struct stat st;
  if (fstat(file.get(), &st) < 0) return errno_answer(errno);
  if (!S_ISREG(st.st_mode)) return not_regular(st.st_mode);  // a FUSE daemon may say otherwise once it is open
  Answer a(kOk);
  a.u64(st.st_dev);
  a.u64(st.st_ino);
  a.u32(st.st_mode);
  a.u32(st.st_uid);
  a.u32(st.st_gid);
  a.u32(st.st_nlink > 0xffffffffu ? 0xffffffffu : uint32_t(st.st_nlink));
  a.u64(uint64_t(st.st_size));
  put_mtime(a, st);
  put_fuse(a, fuse.of(file.get(), st));
  a.u8(entry_link ? 1 : 0);
  a.u32(entry.st_uid);
  a.u32(entry.st_gid);
  a.u64(entry.st_ino);
  a.str(real.data(), real.size());
  a.u32(uint32_t(steps.size()));
  for (const auto& s : steps) {
    a.u8(s.type);
    a.u32(s.st.st_mode);
    a.u32(s.st.st_uid);
    a.u32(s.st.st_gid);
    put_fuse(a, s.fuse);
    a.str(s.path.data(), s.path.size());
  }
  if (int err = append_bytes(file.get(), st, limit, a)) return errno_answer(err);
  return a;
}

}  // namespace

Answer open_answer(const std::string& path, uint32_t limit) {
  if (path.empty() || path[0] != '/') return errno_answer(EINVAL);
  FuseOwners fuse;
  std::vector<Step> steps;
  std::vector<std::string> at;  // where `dir` is, as names from /
  auto record = [&](int fd, const struct stat& st, const std::string& where) {
    if (steps.size() >= kMaxOpenSteps) return false;
    steps.push_back({file_type(st.st_mode), st, fuse.of(fd, st), where});
    return true;
  };
  Fd dir(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  struct stat st;
  if (dir.get() < 0 || fstat(dir.get(), &st) < 0) return errno_answer(errno);
  record(dir.get(), st, "/");
  Names todo;
  push_names(todo, path, true);
  size_t asked_left = todo.size();
  int links = 0;
  bool entry_link = false;
  struct stat entry {};
  while (!todo.empty()) {
    const auto [name, asked] = todo.front();
    todo.pop_front();
    if (asked) asked_left--;
    const bool last = todo.empty();
    if (name == ".") {
      if (last) return not_regular(S_IFDIR);
      continue;
    }
    Fd next(openat(dir.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (next.get() < 0 || fstat(next.get(), &st) < 0) return errno_answer(errno);
    if (name == ".." && !at.empty()) at.pop_back();
    const std::string here = name == ".." ? path_of(at) : path_of(at, name);
    if (here.size() >= PATH_MAX) return errno_answer(ENAMETOOLONG);
    if (asked && asked_left == 0) {
      entry = st;
      entry_link = S_ISLNK(st.st_mode);
    }
    if (S_ISLNK(st.st_mode)) {
      if (!record(next.get(), st, here) || ++links > kMaxLinks) return errno_answer(ELOOP);
      char target[PATH_MAX];
      ssize_t n = readlinkat(next.get(), "", target, sizeof target);
      if (n < 0) return errno_answer(errno);
      if (n == 0) return errno_answer(ENOENT);
      if (size_t(n) >= sizeof target) return errno_answer(ENAMETOOLONG);
      if (target[0] == '/') {
        dir.reset(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (dir.get() < 0) return errno_answer(errno);
        at.clear();
      }
      push_names(todo, std::string(target, size_t(n)), false);
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      if (!record(next.get(), st, here)) return errno_answer(ELOOP);
      dir.reset(next.release());
      if (name != "..") at.push_back(name);
      if (last) return not_regular(st.st_mode);
      continue;
    }
    if (!last) return errno_answer(ENOTDIR);
    if (!S_ISREG(st.st_mode)) return not_regular(st.st_mode);
    return file_answer(next.get(), here, entry_link, entry, steps, fuse, limit);
  }
  return not_regular(S_IFDIR);  // the path was / itself
}

}  // namespace agent
