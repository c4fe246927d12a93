// The on-demand sockets: bound, listened on and handed to the client (SCM_RIGHTS) by a process holding the vassal
// owner's credentials, so that the kernel decides where a tenant's socket may be made; removed the same way.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"

namespace agent {
namespace {

enum Family : uint8_t { kUnix = 0, kInet = 1, kInet6 = 2 };

// A unix socket file left by an earlier listener is replaced; anything else at the path is not ours to remove.
int clear_stale_socket(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) < 0) return errno == ENOENT ? 0 : errno;
  if (!S_ISSOCK(st.st_mode)) return EADDRINUSE;
  return unlink(path.c_str()) < 0 && errno != ENOENT ? errno : 0;
}

}  // namespace

bool op_bind(uint8_t family, const std::string& address, uint32_t port, uint32_t mode, uint32_t backlog) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int domain;
  bool file = false;
  if (family == kUnix) {
    auto* a = reinterpret_cast<sockaddr_un*>(&ss);
    if (address.empty() || address.size() >= sizeof a->sun_path) return send_errno(ENAMETOOLONG);
    a->sun_family = domain = AF_UNIX;
    memcpy(a->sun_path, address.data(), address.size());
    if (address[0] == '@') {
      a->sun_path[0] = '\0';  // abstract: no file
    } else {
      file = true;
      if (int e = clear_stale_socket(address)) return send_errno(e);
    }
    len = socklen_t(offsetof(sockaddr_un, sun_path) + address.size());
  } else if (family == kInet || family == kInet6) {
    if (port == 0 || port > 65535) return send_errno(EINVAL);
    if (family == kInet) {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = domain = AF_INET;
      a->sin_port = htons(uint16_t(port));
      if (inet_pton(AF_INET, address.c_str(), &a->sin_addr) != 1) return send_errno(EINVAL);
      len = sizeof *a;
    } else {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = domain = AF_INET6;
      a->sin6_port = htons(uint16_t(port));
      if (inet_pton(AF_INET6, address.c_str(), &a->sin6_addr) != 1) return send_errno(EINVAL);
      len = sizeof *a;
    }
  } else {
    return send_errno(EINVAL);
  }
  int fd = socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return send_errno(errno);
  int one = 1;
  if (domain != AF_UNIX) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // the file is made with the mode asked for, with no window in which it has another (umask, not a chmod after)
  mode_t old = umask(file ? mode_t(~mode & 0777) : 0);
  int r = bind(fd, reinterpret_cast<sockaddr*>(&ss), len);
  int err = errno;
  umask(old);
  if (r == 0 && listen(fd, int(backlog)) < 0) r = -1, err = errno;
  struct stat st {};
  if (r == 0 && file && lstat(address.c_str(), &st) < 0) r = -1, err = errno;
  if (r < 0) {
    close(fd);
    return send_errno(err);
  }
  Answer a(kOk);
  a.u64(file ? uint64_t(st.st_ino) : 0);
  bool sent = send_fd(a, fd);
  close(fd);
  return sent;
}

bool op_unlink_socket(const std::string& path, uint64_t ino) {
  struct stat st;
  if (lstat(path.c_str(), &st) < 0) return send_errno(errno);
  // only the socket this agent's BIND made: a path the vassal rebound, or replaced with something else, stays
  if (!S_ISSOCK(st.st_mode) || uint64_t(st.st_ino) != ino) return send_errno(ESTALE);
  if (unlink(path.c_str()) < 0) return send_errno(errno);
  Answer a(kOk);
  return send(a);
}

}  // namespace agent
