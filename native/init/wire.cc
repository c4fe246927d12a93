// Framing on the control fd (the format is described in src/jail/init-wire.ts): u32 little-endian length of what
// follows, one type byte, then the body. Frames are written whole: the emperor always reads.
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"

namespace init {
namespace {

std::string inbuf;

uint32_t get_u32(const char* p) {
  const unsigned char* u = reinterpret_cast<const unsigned char*>(p);
  return uint32_t(u[0]) | uint32_t(u[1]) << 8 | uint32_t(u[2]) << 16 | uint32_t(u[3]) << 24;
}

void put_u32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; i++) s.push_back(char((v >> (8 * i)) & 0xff));
}

std::string outq;
bool emperor_gone = false;

void send(uint8_t type, const std::string& body) {
  queue_frame(type, body);
  flush_output(true);
}

}  // namespace

void queue_frame(uint8_t type, const std::string& body) {
  if (emperor_gone) return;
  put_u32(outq, uint32_t(body.size() + 1));
  outq.push_back(char(type));
  outq += body;
}

size_t pending_output() { return outq.size(); }

void flush_output(bool block) {
  size_t off = 0;
  while (off < outq.size()) {
    ssize_t n = write(kControlFd, outq.data() + off, outq.size() - off);
    if (n < 0 && errno == EAGAIN) {  // the fd is non-blocking for the reads
      if (!block) break;
      pollfd p{kControlFd, POLLOUT, 0};
      poll(&p, 1, -1);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {  // the emperor is gone; the read side notices the EOF
      emperor_gone = true;
      off = outq.size();
      break;
    }
    off += size_t(n);
  }
  outq.erase(0, off);
  if (outq.empty() && outq.capacity() > 65536) std::string().swap(outq);
}

bool read_messages(std::vector<Message>& out) {
  char buf[4096];
  ssize_t n;
  do n = read(kControlFd, buf, sizeof buf);
  while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN) return true;
  if (n <= 0) return false;
  inbuf.append(buf, size_t(n));
  while (inbuf.size() >= 5) {
    uint32_t len = get_u32(inbuf.data());
    if (len == 0 || len > (64u << 20)) return false;
    if (inbuf.size() < 4 + size_t(len)) break;
    out.push_back(Message{uint8_t(inbuf[4]), inbuf.substr(5, len - 1)});
    inbuf.erase(0, 4 + size_t(len));
  }
  if (inbuf.empty() && inbuf.capacity() > 65536) std::string().swap(inbuf);  // give back a large plan's memory
  return true;
}

namespace {

// The op and arity check of one decoded step: a protocol error naming the step and its op.
bool check_op(Step& s, PlanError& err) {
  err.index = s.index;
  s.op = find_op(s.args[0]);
  if (!s.op) {
    err.message = "unknown plan op '" + s.args[0] + "'";
    return false;
  }
  const size_t n = s.args.size() - 1;
  if (s.op->arity == kArgv ? n >= 1 : n == size_t(s.op->arity)) return true;
  err.message = "plan op '" + s.args[0] + "' takes " +
                (s.op->arity == kArgv ? std::string("an argv of one word at least")
                                      : std::to_string(s.op->arity) + " argument(s)") +
                ", got " + std::to_string(n);
  return false;
}

}  // namespace

bool decode_plan(const std::string& b, std::vector<Step>& steps, PlanError& err) {
  size_t p = 0;
  auto u32 = [&](uint32_t& v) {
    if (b.size() - p < 4) return false;
    v = get_u32(b.data() + p);
    p += 4;
    return true;
  };
  err = PlanError{kNoStep, "a malformed plan"};
  uint32_t count;
  if (!u32(count)) return false;
  for (uint32_t i = 0; i < count; i++) {
    Step s;
    uint32_t nargs;
    if (!u32(s.index) || p >= b.size()) return false;
    s.flags = uint8_t(b[p++]);
    if (!u32(nargs) || nargs == 0) return false;
    for (uint32_t a = 0; a < nargs; a++) {
      uint32_t len;
      if (!u32(len) || b.size() - p < len) return false;
      s.args.emplace_back(b, p, len);
      p += len;
    }
    if (!check_op(s, err)) return false;
    steps.push_back(std::move(s));
  }
  if (p != b.size()) {
    err = PlanError{kNoStep, "trailing bytes after the plan"};
    return false;
  }
  return true;
}

void send_step(const Step& s, const Result& r) {
  std::string body;
  put_u32(body, s.index);
  body.push_back(r.ok ? 1 : 0);
  body.push_back((s.flags & kStepFatal) ? 1 : 0);
  put_u32(body, uint32_t(r.err));
  body += r.syscall;
  body.push_back('\0');
  body += r.path;
  body.push_back('\0');
  body += r.message;
  send(kMsgStep, body);
}

void send_app_started(pid_t pid) {
  std::string body;
  put_u32(body, uint32_t(pid));
  send(kMsgApp, body);
}

void send_app_exit(int status) {
  std::string body;
  put_u32(body, WIFEXITED(status) ? uint32_t(WEXITSTATUS(status)) : 0xffffffffu);
  put_u32(body, WIFSIGNALED(status) ? uint32_t(WTERMSIG(status)) : 0u);
  send(kMsgExit, body);
}

void send_protocol_byte(uint8_t b) { send(kMsgProtocol, std::string(1, char(b))); }

void send_in_place(pid_t pid) {
  std::string body;
  put_u32(body, uint32_t(pid));
  send(kMsgInPlace, body);
}

void send_fallback(uint8_t byte) { send(kMsgFallback, std::string(1, char(byte))); }

}  // namespace init
