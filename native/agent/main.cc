// The agent's loop: read one request frame, parse it completely, answer, repeat; EOF ends it. The wire format is
// documented in src/agent/agent-wire.ts.
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "agent.h"

namespace agent {

bool Reader::need(size_t n) {
  if (left() < n) ok_ = false;
  return ok_;
}

uint8_t Reader::u8() { return need(1) ? uint8_t(b_[p_++]) : 0; }

uint32_t Reader::u32() {
  if (!need(4)) return 0;
  const unsigned char* u = reinterpret_cast<const unsigned char*>(b_.data() + p_);
  p_ += 4;
  return uint32_t(u[0]) | uint32_t(u[1]) << 8 | uint32_t(u[2]) << 16 | uint32_t(u[3]) << 24;
}

std::string Reader::str() {
  uint32_t n = u32();
  if (!need(n)) return std::string();
  std::string s(b_, p_, n);
  p_ += n;
  return s;
}

void Answer::u32(uint32_t v) {
  for (int i = 0; i < 4; i++) buf.push_back(char(v >> (8 * i)));
}

void Answer::u64(uint64_t v) {
  for (int i = 0; i < 8; i++) buf.push_back(char(v >> (8 * i)));
}

void Answer::str(const char* p, size_t n) {
  u32(uint32_t(n));
  buf.append(p, n);
}

void Answer::seal() {
  uint32_t len = uint32_t(buf.size() - 4);
  for (int i = 0; i < 4; i++) buf[i] = char(len >> (8 * i));
}

void Answer::nest(Answer& part) {
  part.seal();
  buf += part.buf;
}

bool send(Answer& a) {
  a.seal();
  for (size_t off = 0; off < a.buf.size();) {
    // MSG_NOSIGNAL: a client gone is EPIPE here, not a SIGPIPE that the exec'd commands would inherit as ignored
    ssize_t n = ::send(kSocketFd, a.buf.data() + off, a.buf.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += size_t(n);
  }
  return true;
}

bool send_fd(Answer& a, int fd) {
  a.seal();
  iovec iov{&a.buf[0], a.buf.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof fd)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof fd);
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  ssize_t n;
  do n = sendmsg(kSocketFd, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n <= 0) return false;
  for (size_t off = size_t(n); off < a.buf.size();) {
    ssize_t m = ::send(kSocketFd, a.buf.data() + off, a.buf.size() - off, MSG_NOSIGNAL);
    if (m < 0 && errno == EINTR) continue;
    if (m <= 0) return false;
    off += size_t(m);
  }
  return true;
}

bool send_errno(int err) {
  Answer a = errno_answer(err);
  return send(a);
}

namespace {

// 1: a frame; 0: EOF before any byte of one; -1: anything else (a cut or oversized frame, a read error).
int read_exactly(char* p, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(kSocketFd, p + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return r == 0 && got == 0 ? 0 : -1;
    got += size_t(r);
  }
  return 1;
}

int read_frame(std::string& frame) {
  unsigned char len_le[4];
  int r = read_exactly(reinterpret_cast<char*>(len_le), 4);
  if (r <= 0) return r;
  uint32_t len = uint32_t(len_le[0]) | uint32_t(len_le[1]) << 8 | uint32_t(len_le[2]) << 16 | uint32_t(len_le[3]) << 24;
  if (len == 0 || len > kMaxRequest) return -1;
  frame.resize(len);
  return read_exactly(&frame[0], len) == 1 ? 1 : -1;
}

// false: the request is unreadable, or the client is gone.
bool dispatch(Reader& r) {
  uint8_t op = r.u8();
  if (op == kStatSources) {
    uint8_t flags = r.u8();
    uint32_t count = r.u32();
    if (count > r.left() / 4) return false;  // each path takes at least its length field
    std::vector<std::string> paths(count);
    for (auto& p : paths) p = r.str();
    if (!r.done()) return false;
    for (const auto& p : paths)
      if (!op_stat_source(p, flags & 1, flags & 2)) return false;
    return true;
  }
  if (op == kExec) {
    std::string command = r.str(), cwd = r.str();
    uint32_t timeout_ms = r.u32(), limit = r.u32();
    if (!r.done()) return false;
    if (has_nul(command) || has_nul(cwd) || limit > kMaxLimit) return send_errno(EINVAL);
    return op_exec(command, cwd, timeout_ms, limit);
  }
  if (op == kBind) {
    uint8_t family = r.u8();
    std::string address = r.str();
    uint32_t port = r.u32(), mode = r.u32(), backlog = r.u32();
    if (!r.done()) return false;
    if (has_nul(address)) return send_errno(EINVAL);
    return op_bind(family, address, port, mode, backlog);
  }
  if (op == kUnlinkSocket) {
    std::string path = r.str();
    uint64_t ino = uint64_t(r.u32()) | uint64_t(r.u32()) << 32;
    if (!r.done()) return false;
    if (has_nul(path)) return send_errno(EINVAL);
    return op_unlink_socket(path, ino);
  }
  std::string path = r.str();
  uint32_t limit = op == kRead || op == kLoad || op == kOpen ? r.u32() : 0;
  bool follow = op == kStat ? r.u8() != 0 : false;
  if (!r.done()) return false;
  if (has_nul(path) || limit > kMaxLimit) return send_errno(EINVAL);
  Answer a(kOk);
  switch (op) {
    case kRead:
      a = read_answer(path, limit);
      break;
    case kStat:
      a = stat_answer(path, follow);
      break;
    case kRealpath:
      a = realpath_answer(path);
      break;
    case kLoad:
      a = load_answer(path, limit);
      break;
    case kOpen:
      a = open_answer(path, limit);
      break;
    case kReaddir:
      return op_readdir(path);
    case kAccessX:
      return op_access_x(path);
    default:
      return false;
  }
  return send(a);
}

}  // namespace
}  // namespace agent

int main() {
  using namespace agent;
  if (fcntl(kSocketFd, F_SETFD, FD_CLOEXEC) < 0) return 2;  // started without its socket
  std::string frame;
  for (;;) {
    // exec'd shells that could not be reaped in time (stuck in the kernel) are reaped once they are gone
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    int r = read_frame(frame);
    if (r == 0) return 0;
    if (r < 0) return 2;
    Reader reader(frame);
    if (!dispatch(reader)) return 2;
    if (frame.capacity() > (64u << 10)) std::string().swap(frame);  // a large request's memory goes back
  }
}
