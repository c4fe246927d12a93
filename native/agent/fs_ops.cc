// The filesystem ops. Every open, stat and listing is the kernel's decision for this process's credentials.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

namespace agent {
namespace {

Answer fail_closing(int fd, int err) {
  close(fd);
  return errno_answer(err);
}

}  // namespace

void put_mtime(Answer& a, const struct stat& st) {
  a.u64(uint64_t(int64_t(st.st_mtim.tv_sec)));
  a.u32(uint32_t(st.st_mtim.tv_nsec));
}

uint8_t file_type(mode_t m) {
  switch (m & S_IFMT) {
    case S_IFREG:
      return 1;
    case S_IFDIR:
      return 2;
    case S_IFLNK:
      return 3;
    case S_IFIFO:
      return 4;
    case S_IFSOCK:
      return 5;
    case S_IFCHR:
      return 6;
    case S_IFBLK:
      return 7;
    default:
      return 0;
  }
}

Answer not_regular(mode_t m) {
  Answer a(kNotRegular);
  a.u8(file_type(m));
  return a;
}

int append_bytes(int fd, const struct stat& st, uint32_t limit, Answer& a) {
  const size_t start = a.buf.size();
  a.buf.reserve(start + (st.st_size > 0 && uint64_t(st.st_size) <= limit ? size_t(st.st_size) + 1 : 4096));
  for (;;) {
    size_t have = a.buf.size() - start;
    size_t want = size_t(limit) + 1 - have;
    if (want > (256u << 10)) want = 256u << 10;
    a.buf.resize(start + have + want);
    ssize_t n = read(fd, &a.buf[start + have], want);
    if (n < 0 && errno != EINTR) return errno;
    a.buf.resize(start + have + size_t(n > 0 ? n : 0));
    if (n == 0) return 0;
    if (a.buf.size() - start > limit) return EFBIG;
  }
}

Answer errno_answer(int err) {
  Answer a(kErrno);
  a.u32(uint32_t(err));
  return a;
}

Answer read_answer(const std::string& path, uint32_t limit) {
  // stat first: a device is never opened (opening one can have effects: a watchdog, a tape rewinding), a FIFO never
  // waited on; open's O_NONBLOCK and fstat cover a path swapped in between
  struct stat st;
  if (stat(path.c_str(), &st) < 0) return errno_answer(errno);
  if (!S_ISREG(st.st_mode)) return not_regular(st.st_mode);
  int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return errno_answer(errno);
  if (fstat(fd, &st) < 0) return fail_closing(fd, errno);
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return not_regular(st.st_mode);
  }
  Answer a(kOk);
  // st_size is only a hint (a /proc file says 0): the bytes are counted as read, up to one past the limit
  if (int err = append_bytes(fd, st, limit, a)) return fail_closing(fd, err);
  close(fd);
  return a;
}

Answer stat_answer(const std::string& path, bool follow) {
  struct stat st;
  if ((follow ? stat(path.c_str(), &st) : lstat(path.c_str(), &st)) < 0) return errno_answer(errno);
  Answer a(kOk);
  a.u8(file_type(st.st_mode));
  a.u32(st.st_mode);
  a.u32(st.st_uid);
  a.u32(st.st_gid);
  a.u64(uint64_t(st.st_size));
  put_mtime(a, st);
  a.u64(st.st_ino);
  return a;
}

Answer realpath_answer(const std::string& path) {
  char out[PATH_MAX];
  if (!realpath(path.c_str(), out)) return errno_answer(errno);
  Answer a(kOk);
  a.buf.append(out);
  return a;
}

Answer load_answer(const std::string& path, uint32_t limit) {
  Answer a(kOk), lst = stat_answer(path, false), real = realpath_answer(path), bytes = read_answer(path, limit);
  a.nest(lst);
  a.nest(real);
  a.nest(bytes);
  return a;
}

bool op_readdir(const std::string& path) {
  DIR* d = opendir(path.c_str());
  if (!d) return send_errno(errno);
  Answer a(kOk);
  a.u32(0);  // the count, filled in at the end
  uint32_t count = 0;
  const size_t start = a.buf.size() - 4;
  for (;;) {
    errno = 0;
    struct dirent* e = readdir(d);
    if (!e) break;
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    a.str(e->d_name, strlen(e->d_name));
    if (++count > kMaxDirNames || a.buf.size() - start > kMaxDirBytes) {
      closedir(d);
      return send_errno(EFBIG);
    }
  }
  int err = errno;
  closedir(d);
  if (err) return send_errno(err);
  for (int i = 0; i < 4; i++) a.buf[start + i] = char(count >> (8 * i));
  return send(a);
}

bool op_access_x(const std::string& path) {
  if (access(path.c_str(), X_OK) < 0) return send_errno(errno);
  Answer a(kOk);
  return send(a);
}

// The monitors' rule, uWSGI's scanners' (src/monitors/stat-source.ts says it): a regular file is a vassal with its
// own mtime and owner; a symlink to a regular file is one with the mtime of the link (nofollow) or of the target,
// and the owner of the link (tyrant nofollow) or of the target; anything else, a dangling symlink included, is not.
bool op_stat_source(const std::string& path, bool nofollow, bool tyrant_nofollow) {
  struct stat l, t;
  const struct stat* time_of = nullptr;
  const struct stat* owner_of = nullptr;
  uint8_t kind = 0;
  if (has_nul(path) || lstat(path.c_str(), &l) < 0) {
  } else if (S_ISREG(l.st_mode)) {
    kind = 1, time_of = owner_of = &l;
  } else if (S_ISLNK(l.st_mode) && stat(path.c_str(), &t) == 0 && S_ISREG(t.st_mode)) {
    kind = 2, time_of = nofollow ? &l : &t, owner_of = tyrant_nofollow ? &l : &t;
  }
  Answer a(kOk);
  a.u8(kind);
  if (kind) {
    put_mtime(a, *time_of);
    a.u32(owner_of->st_uid);
    a.u32(owner_of->st_gid);
  } else {
    a.buf.append(8 + 4 + 4 + 4, '\0');
  }
  return send(a);
}

}  // namespace agent
