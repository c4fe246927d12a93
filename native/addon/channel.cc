// A vassal's control socket on the event loop, for a few hundred bytes of state instead of a net.Socket (a stream,
// its two states, a libuv pipe and Node's wrap: about 5 KB of RSS each, kept by every dormant vassal): one uv_poll
// on the fd; what arrives is handed to JS as it comes, what JS writes goes out at once, or when the socket has room.
#include <errno.h>
#include <unistd.h>
#include <uv.h>

#include <string>

#include "addon.h"
#include "unique_fd.h"

namespace emperor {
namespace {

class Channel;

// Lives as long as the poll handle (until its close callback), the JS object only as long as JS holds it.
struct Poll {
  uv_poll_t poll;
  UniqueFd fd;
  napi_env env = nullptr;
  Napi::FunctionReference on_data;
  std::string pending;  // written by JS, not yet taken by the socket
  Channel* owner = nullptr;
  bool paused = false;  // not read until resumed: a flooding writer then blocks on its own full pipe
};

void OnPollClosed(uv_handle_t* h) { delete static_cast<Poll*>(h->data); }

class Channel : public Napi::ObjectWrap<Channel> {
 public:
  explicit Channel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Channel>(info) {}
  ~Channel() override { Close(); }

  Poll* p = nullptr;

  // Stops watching and closes the fd; nothing is delivered afterwards.
  void Close() {
    if (!p) return;
    p->owner = nullptr;
    UnguardHandle(p->env, reinterpret_cast<uv_handle_t*>(&p->poll));
    uv_close(reinterpret_cast<uv_handle_t*>(&p->poll), OnPollClosed);
    p->fd.reset();  // uv_close took it out of epoll already
    p = nullptr;
  }

  void Watch() {
    if (!p) return;
    int events = (p->paused ? 0 : UV_READABLE) | (p->pending.empty() ? 0 : UV_WRITABLE);
    if (events)
      uv_poll_start(&p->poll, events, OnEvent);
    else
      uv_poll_stop(&p->poll);
  }

  // Whatever of `pending` the socket takes now; false once the peer is gone (EPIPE, ECONNRESET).
  bool Flush() {
    while (!p->pending.empty()) {
      ssize_t n = write(p->fd.get(), p->pending.data(), p->pending.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return true;
      if (n < 0) {
        p->pending.clear();
        return false;
      }
      p->pending.erase(0, static_cast<size_t>(n));
    }
    return true;
  }

  Napi::Value Write(const Napi::CallbackInfo& info) {
    if (!info[0].IsBuffer()) return ThrowTypeError(info.Env(), "channel.write(buffer)");
    if (!p) return Napi::Boolean::New(info.Env(), false);
    Napi::Buffer<char> b = info[0].As<Napi::Buffer<char>>();
    p->pending.append(b.Data(), b.Length());
    // the peer gone: the exit arrives through the pidfd, and the EOF through the next read
    bool alive = Flush();
    Watch();
    return Napi::Boolean::New(info.Env(), alive);
  }

  Napi::Value CloseJs(const Napi::CallbackInfo& info) {
    Close();
    return info.Env().Undefined();
  }

  Napi::Value Pause(const Napi::CallbackInfo& info) {
    if (p) p->paused = true;
    Watch();
    return info.Env().Undefined();
  }
  Napi::Value Resume(const Napi::CallbackInfo& info) {
    if (p) p->paused = false;
    Watch();
    return info.Env().Undefined();
  }

  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (p) uv_ref(reinterpret_cast<uv_handle_t*>(&p->poll));
    return info.Env().Undefined();
  }
  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (p) uv_unref(reinterpret_cast<uv_handle_t*>(&p->poll));
    return info.Env().Undefined();
  }

  static void OnEvent(uv_poll_t* h, int status, int events) {
    Poll* p = static_cast<Poll*>(h->data);
    Channel* c = p->owner;
    if (!c) return;
    if (events & UV_WRITABLE) {
      c->Flush();
      c->Watch();
    }
    if (!(events & UV_READABLE) && status == 0) return;
    if (p->paused) return;
    Napi::Env env(p->env);
    Napi::HandleScope scope(env);
    Napi::Object self = c->Value();
    // a burst is read in a few rounds, then the loop gets its turn back
    for (int round = 0; round < 16; round++) {
      char buf[4096];
      ssize_t n = read(p->fd.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      napi_value arg = n > 0 ? Napi::Buffer<char>::Copy(env, buf, static_cast<size_t>(n)) : env.Null();
      if (n <= 0) c->Close();  // EOF or an error: the other end is gone
      MakeCallback(env, self, p->on_data, 1, &arg, n <= 0);
      if (n <= 0 || !p->owner) return;  // closed, by the peer or by the callback
    }
  }
};

// channel(fd, onData(buffer | null)): the fd is the channel's from now on (closed by close() or at EOF).
Napi::Value OpenChannel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsFunction()) return ThrowTypeError(env, "channel(fd, onData)");
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  Poll* p = new Poll();
  p->fd.reset(info[0].As<Napi::Number>().Int32Value());
  if (int r = uv_poll_init(loop, &p->poll, p->fd.get()); r != 0) {
    delete p;  // and with it the fd, which was the channel's
    return ThrowNativeError(env, -r, "uv_poll_init");
  }
  p->poll.data = p;
  p->env = env;
  p->on_data = Napi::Persistent(info[1].As<Napi::Function>());
  Napi::Object obj = env.GetInstanceData<AddonData>()->channel.New({});
  Channel* c = Channel::Unwrap(obj);
  c->p = p;
  p->owner = c;
  GuardHandle(env, reinterpret_cast<uv_handle_t*>(&p->poll));
  c->Watch();
  return obj;
}

}  // namespace

void InitChannel(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = Channel::DefineClass(env, "Channel",
                                             {
                                                 Channel::InstanceMethod<&Channel::Write>("write"),
                                                 Channel::InstanceMethod<&Channel::CloseJs>("close"),
                                                 Channel::InstanceMethod<&Channel::Pause>("pause"),
                                                 Channel::InstanceMethod<&Channel::Resume>("resume"),
                                                 Channel::InstanceMethod<&Channel::Ref>("ref"),
                                                 Channel::InstanceMethod<&Channel::Unref>("unref"),
                                             });
  env.GetInstanceData<AddonData>()->channel = Napi::Persistent(ctor);
  exports.Set("channel", Napi::Function::New(env, OpenChannel, "channel"));
}

}  // namespace emperor
