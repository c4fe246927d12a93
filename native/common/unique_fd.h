// A file descriptor with one owner: closed when the owner goes, moved (never copied) to a new one. For the addon and
// the programs in their own process; never in a clone child before execve, which makes raw syscalls only
// (raw_syscall.h) and reads plain ints from a plan built before the clone.
#pragma once
#include <errno.h>
#include <unistd.h>

namespace emperor {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  // The fd is the caller's from now on.
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // Closes the fd held (errno is kept: a cleanup never hides the error being reported) and holds fd instead.
  void reset(int fd = -1) {
    if (fd_ >= 0) {
      int saved = errno;
      close(fd_);  // never retried: on Linux the fd is gone even when close reports EINTR
      errno = saved;
    }
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// pipe2(2) into two owners; false, errno set, when it fails.
inline bool make_pipe(UniqueFd& read_end, UniqueFd& write_end, int flags) {
  int p[2];
  if (pipe2(p, flags) < 0) return false;
  read_end.reset(p[0]);
  write_end.reset(p[1]);
  return true;
}

}  // namespace emperor
