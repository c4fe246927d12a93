// statSources: the stat of every vassal config a rescan looks at, in ONE threadpool task. A rescan of 1,000 files
// through fs.lstat is 1,000 threadpool round trips (a futex wake and an eventfd write each): that, not the stat
// itself, was most of the emperor's idle CPU. Still off the event loop, so a hung NFS mount blocks a worker thread.
#include <sys/stat.h>

#include <string>
#include <vector>

#include <napi.h>

#include "addon.h"

namespace emperor {
namespace {

// Per path, 4 doubles: kind (0 = not a vassal, 1 = regular file, 2 = symlink to a regular file), mtime in ms,
// uid, gid. The rules are uWSGI's scanners' (src/monitors/stat-source.ts says them).
constexpr int kFields = 4;

double MtimeMs(const struct stat& st) { return st.st_mtim.tv_sec * 1e3 + st.st_mtim.tv_nsec / 1e6; }

class StatWorker : public Napi::AsyncWorker {
 public:
  StatWorker(Napi::Env env, std::vector<std::string> paths, bool nofollow, bool tyrant_nofollow)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), paths_(std::move(paths)),
        nofollow_(nofollow), tyrant_nofollow_(tyrant_nofollow), out_(paths_.size() * kFields, 0.0) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    for (size_t i = 0; i < paths_.size(); i++) {
      double* r = &out_[i * kFields];
      struct stat l, t;
      if (lstat(paths_[i].c_str(), &l) < 0) continue;
      if (S_ISREG(l.st_mode)) {
        r[0] = 1; r[1] = MtimeMs(l); r[2] = l.st_uid; r[3] = l.st_gid;
        continue;
      }
      // a dangling symlink, or one to anything but a regular file, is skipped in both modes, as uWSGI does
      if (!S_ISLNK(l.st_mode) || stat(paths_[i].c_str(), &t) < 0 || !S_ISREG(t.st_mode)) continue;
      const struct stat& time_of = nofollow_ ? l : t;
      const struct stat& owner_of = tyrant_nofollow_ ? l : t;
      r[0] = 2; r[1] = MtimeMs(time_of); r[2] = owner_of.st_uid; r[3] = owner_of.st_gid;
    }
  }

  void OnOK() override {
    Napi::Float64Array a = Napi::Float64Array::New(Env(), out_.size());
    for (size_t i = 0; i < out_.size(); i++) a[i] = out_[i];
    deferred_.Resolve(a);
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<std::string> paths_;
  bool nofollow_, tyrant_nofollow_;
  std::vector<double> out_;
};

// statSources(paths: string[], nofollow: boolean, tyrantNofollow: boolean): Promise<Float64Array>
Napi::Value StatSources(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray() || !info[1].IsBoolean() || !info[2].IsBoolean())
    return ThrowTypeError(env, "statSources(paths: string[], nofollow: boolean, tyrantNofollow: boolean)");
  Napi::Array a = info[0].As<Napi::Array>();
  std::vector<std::string> paths;
  paths.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value v = a.Get(i);
    if (!v.IsString()) return ThrowTypeError(env, "statSources: every path must be a string");
    paths.push_back(v.As<Napi::String>().Utf8Value());
  }
  auto* w = new StatWorker(env, std::move(paths), info[1].As<Napi::Boolean>(), info[2].As<Napi::Boolean>());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace

void InitStatBatch(Napi::Env env, Napi::Object exports) {
  exports.Set("statSources", Napi::Function::New(env, StatSources, "statSources"));
}

}  // namespace emperor
