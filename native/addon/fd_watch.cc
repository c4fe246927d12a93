// FdWatch: a callback on the event loop each time an fd polls readable (a listening socket with a connection
// waiting, an agent's answer), without reading it; recvFds: one non-blocking recvmsg that also takes the fds sent
// along (SCM_RIGHTS).
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <vector>

#include "addon.h"
#include "unique_fd.h"

namespace emperor {
namespace {

// Lives as long as the libuv handle; the JS object points to it until close().
struct Poll {
  uv_poll_t handle;
  napi_env env = nullptr;
  int fd = -1;
  int saved_flags = 0;
  Napi::FunctionReference on_readable;
  Napi::ObjectReference self;  // the JS object stays reachable while it can be called back
};

void OnClosed(uv_handle_t* h) { delete static_cast<Poll*>(h->data); }

class FdWatch : public Napi::ObjectWrap<FdWatch> {
 public:
  // new FdWatch(fd, onReadable)
  explicit FdWatch(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdWatch>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber() || !info[1].IsFunction()) {
      ThrowTypeError(env, "FdWatch(fd, onReadable)");
      return;
    }
    int fd = info[0].As<Napi::Number>().Int32Value();
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) {
      ThrowNativeError(env, errno, "fcntl");
      return;
    }
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    Poll* p = new Poll();
    p->handle.data = p;
    if (int r = uv_poll_init(loop, &p->handle, fd); r != 0) {  // it makes fd non-blocking
      delete p;
      ThrowNativeError(env, -r, "uv_poll_init");
      return;
    }
    p->env = env;
    p->fd = fd;
    p->saved_flags = flags;
    p->on_readable = Napi::Persistent(info[1].As<Napi::Function>());
    p->self = Napi::Persistent(info.This().As<Napi::Object>());
    poll_ = p;
    GuardHandle(env, reinterpret_cast<uv_handle_t*>(&p->handle));
    uv_poll_start(&p->handle, UV_READABLE, OnReadable);
  }

  // Stops watching and gives the fd back with the flags it had (a socket handed to a vassal is blocking, as
  // inherited sockets are); the fd stays open, the caller's. Idempotent.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (Poll* p = poll_) {
      poll_ = nullptr;
      fcntl(p->fd, F_SETFL, p->saved_flags);
      p->self.Reset();
      UnguardHandle(p->env, reinterpret_cast<uv_handle_t*>(&p->handle));
      uv_close(reinterpret_cast<uv_handle_t*>(&p->handle), OnClosed);
    }
    return info.Env().Undefined();
  }

  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (poll_) uv_ref(reinterpret_cast<uv_handle_t*>(&poll_->handle));
    return info.Env().Undefined();
  }

  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (poll_) uv_unref(reinterpret_cast<uv_handle_t*>(&poll_->handle));
    return info.Env().Undefined();
  }

 private:
  static void OnReadable(uv_poll_t* h, int status, int events) {
    Poll* p = static_cast<Poll*>(h->data);
    Napi::Env env(p->env);
    Napi::HandleScope scope(env);
    MakeCallback(env, p->self.Value(), p->on_readable, 0, nullptr, false);
  }

  Poll* poll_ = nullptr;
};

constexpr int kMaxFds = 8;

// recvFds(fd, maxBytes): { data: Buffer, fds: number[] }; data is empty at EOF. Throws NativeError (EAGAIN when
// nothing is there; EPROTO when more fds came than fit, which are then closed).
Napi::Value RecvFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsNumber()) return ThrowTypeError(env, "recvFds(fd, maxBytes)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  double max = info[1].As<Napi::Number>().DoubleValue();
  if (!(max >= 1 && max <= (1 << 24))) return ThrowTypeError(env, "recvFds: maxBytes must be 1..16 MiB");
  std::vector<char> buf(static_cast<size_t>(max));
  iovec iov{buf.data(), buf.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(kMaxFds * sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return ThrowNativeError(env, errno, "recvmsg");
  // Ours until handed to JS: an answer that is refused closes them.
  std::vector<UniqueFd> fds;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int got;
      memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
      fds.emplace_back(got);
    }
  }
  if (msg.msg_flags & MSG_CTRUNC) return ThrowNativeError(env, EPROTO, "recvmsg");
  Napi::Object out = Napi::Object::New(env);
  out.Set("data", Napi::Buffer<char>::Copy(env, buf.data(), size_t(n)));
  Napi::Array list = Napi::Array::New(env, fds.size());
  for (size_t i = 0; i < fds.size(); i++) list.Set(uint32_t(i), Napi::Number::New(env, fds[i].release()));
  out.Set("fds", list);
  return out;
}

}  // namespace

void InitFdWatch(Napi::Env env, Napi::Object exports) {
  exports.Set("FdWatch", FdWatch::DefineClass(env, "FdWatch",
                                              {
                                                  FdWatch::InstanceMethod<&FdWatch::Close>("close"),
                                                  FdWatch::InstanceMethod<&FdWatch::Ref>("ref"),
                                                  FdWatch::InstanceMethod<&FdWatch::Unref>("unref"),
                                              }));
  exports.Set("recvFds", Napi::Function::New(env, RecvFds, "recvFds"));
}

}  // namespace emperor
