// See config_bind.h.
#include "config_bind.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>

#include "addon.h"
#include "child_setup.h"
#include "raw_syscall.h"

namespace emperor {
namespace {

// The kernel's struct mount_attr (version 0), declared here so that only raw syscalls are made with it.
struct MountAttr {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};

bool Fail(Napi::Env env, const std::string& what) {
  ThrowTypeError(env, "spawn: option 'configBind' " + what);
  return false;
}

bool Path(Napi::Env env, Napi::Object o, const char* key, std::string* out) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) return Fail(env, std::string("needs ") + key + ": an absolute path");
  *out = v.As<Napi::String>().Utf8Value();
  if (out->empty() || (*out)[0] != '/' || out->find('\0') != std::string::npos)
    return Fail(env, std::string("needs ") + key + ": an absolute path without NUL bytes");
  return true;
}

bool U64(Napi::Env env, Napi::Object o, const char* key, uint64_t* out) {
  Napi::Value v = o.Get(key);
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (d < 0 || d > 9007199254740991.0 || d != static_cast<double>(static_cast<uint64_t>(d)))
    return Fail(env, std::string("needs ") + key + ": an integer in 0..2^53-1");
  *out = static_cast<uint64_t>(d);
  return true;
}

}  // namespace

bool ReadConfigBind(Napi::Env env, Napi::Value v, ConfigBind* out) {
  if (v.IsUndefined() || v.IsNull()) return true;
  if (!v.IsObject()) return Fail(env, "must be an object");
  Napi::Object o = v.As<Napi::Object>();
  if (!(Path(env, o, "source", &out->source_s) && Path(env, o, "target", &out->target_s) &&
        Path(env, o, "check", &out->check_s) && U64(env, o, "dev", &out->dev) && U64(env, o, "ino", &out->ino)))
    return false;
  out->source = out->source_s.c_str();
  out->target = out->target_s.c_str();
  out->check = out->check_s.c_str();
  out->enabled = true;
  return true;
}

void BindConfig(const ConfigBind& b, int report_fd) {
  if (!b.enabled) return;
  // slave first, whatever propagation is asked for later: a mount made here never reaches the host
  if (long r = sys(SYS_mount, nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr); r < 0)
    report_setup_failure(report_fd, "mount_propagation", r);
  if (long r = sys(SYS_mount, b.source, b.target, nullptr, MS_BIND, nullptr); r < 0)
    report_setup_failure(report_fd, "config_bind", r);
  MountAttr attr{MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, 0, 0, 0};
  if (long r = sys(SYS_mount_setattr, AT_FDCWD, b.target, 0, &attr, sizeof attr); r < 0)
    report_setup_failure(report_fd, "config_readonly", r);
  // what the name uWSGI opens leads to now (its owner, or root, may have moved a directory or a link on the way)
  long fd = sys(SYS_openat, AT_FDCWD, b.check, O_PATH | O_CLOEXEC);
  if (fd < 0) report_setup_failure(report_fd, "config_check", fd);
  struct stat st;
  struct statfs sf;
  long r = sys(SYS_fstat, fd, &st);
  if (r == 0) r = sys(SYS_fstatfs, fd, &sf);
  sys(SYS_close, fd);
  if (r < 0) report_setup_failure(report_fd, "config_check", r);
  if (st.st_dev != b.dev || st.st_ino != b.ino || !(sf.f_flags & ST_RDONLY))
    report_setup_failure(report_fd, "config_check", -ESTALE);
}

}  // namespace emperor
