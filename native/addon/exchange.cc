// exchange/receive: a request and its answer frame on an agent's socket (src/agent/agent-wire.ts), blocking until a
// deadline. Blocking by design: only processes that are not the emperor's event loop use them (the config reader,
// the CLI, tests); the emperor talks to its agent through a non-blocking net.Socket.
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

#include "addon.h"

namespace emperor {
namespace {

double NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// 0 once fd polls ready for events (or hung up: the next call says how), ETIMEDOUT at the deadline, or an errno.
int WaitFor(int fd, short events, double deadline) {
  for (;;) {
    double left = deadline - NowMs();
    if (left <= 0) return ETIMEDOUT;
    pollfd p{fd, events, 0};
    int r = poll(&p, 1, left >= INT_MAX ? INT_MAX : int(left) + 1);
    if (r > 0) return 0;
    if (r < 0 && errno != EINTR) return errno;
  }
}

// Reads exactly n bytes: 0, or an errno (ECONNRESET for an EOF: the agent is gone).
int RecvAll(int fd, uint8_t* p, size_t n, double deadline) {
  for (size_t got = 0; got < n;) {
    ssize_t r = recv(fd, p + got, n - got, MSG_DONTWAIT);
    if (r > 0) {
      got += size_t(r);
    } else if (r == 0) {
      return ECONNRESET;
    } else if (errno == EAGAIN) {
      if (int e = WaitFor(fd, POLLIN, deadline)) return e;
    } else if (errno != EINTR) {
      return errno;
    }
  }
  return 0;
}

int SendAll(int fd, const uint8_t* p, size_t n, double deadline) {
  for (size_t sent = 0; sent < n;) {
    ssize_t r = send(fd, p + sent, n - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r >= 0) {
      sent += size_t(r);
    } else if (errno == EAGAIN) {
      if (int e = WaitFor(fd, POLLOUT, deadline)) return e;
    } else if (errno != EINTR) {
      return errno;
    }
  }
  return 0;
}

bool Args(const Napi::CallbackInfo& info, size_t at, int* fd, double* deadline, uint32_t* max_frame) {
  if (!info[0].IsNumber() || !info[at].IsNumber() || !info[at + 1].IsNumber()) return false;
  double f = info[0].As<Napi::Number>().DoubleValue(), t = info[at].As<Napi::Number>().DoubleValue(),
         m = info[at + 1].As<Napi::Number>().DoubleValue();
  if (f < 0 || f > INT_MAX || f != int(f) || !(t >= 0) || !(m >= 1 && m <= 4294967295.0) || m != uint32_t(m))
    return false;
  *fd = int(f);
  *deadline = NowMs() + t;
  *max_frame = uint32_t(m);
  return true;
}

// One frame: its body (without the length prefix) in a Buffer, or a thrown NativeError.
Napi::Value ReceiveFrame(Napi::Env env, int fd, double deadline, uint32_t max_frame) {
  uint8_t len_le[4];
  if (int e = RecvAll(fd, len_le, 4, deadline)) return ThrowNativeError(env, e, "recv");
  uint32_t len = uint32_t(len_le[0]) | uint32_t(len_le[1]) << 8 | uint32_t(len_le[2]) << 16 | uint32_t(len_le[3]) << 24;
  if (len == 0 || len > max_frame) return ThrowNativeError(env, EPROTO, "recv");
  Napi::Buffer<uint8_t> body = Napi::Buffer<uint8_t>::New(env, len);
  if (int e = RecvAll(fd, body.Data(), len, deadline)) return ThrowNativeError(env, e, "recv");
  return body;
}

// exchange(fd, request: Buffer, timeoutMs, maxFrame): Buffer
Napi::Value Exchange(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  double deadline;
  uint32_t max_frame;
  if (!info[1].IsBuffer() || !Args(info, 2, &fd, &deadline, &max_frame))
    return ThrowTypeError(env, "exchange(fd, request: Buffer, timeoutMs >= 0, maxFrame: 1..2^32-1)");
  Napi::Buffer<uint8_t> req = info[1].As<Napi::Buffer<uint8_t>>();
  if (int e = SendAll(fd, req.Data(), req.Length(), deadline)) return ThrowNativeError(env, e, "send");
  return ReceiveFrame(env, fd, deadline, max_frame);
}

// receive(fd, timeoutMs, maxFrame): Buffer -- the frames after the first of a streamed answer
Napi::Value Receive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  double deadline;
  uint32_t max_frame;
  if (!Args(info, 1, &fd, &deadline, &max_frame))
    return ThrowTypeError(env, "receive(fd, timeoutMs >= 0, maxFrame: 1..2^32-1)");
  return ReceiveFrame(env, fd, deadline, max_frame);
}

}  // namespace

void InitExchange(Napi::Env env, Napi::Object exports) {
  exports.Set("exchange", Napi::Function::New(env, Exchange, "exchange"));
  exports.Set("receive", Napi::Function::New(env, Receive, "receive"));
}

}  // namespace emperor
