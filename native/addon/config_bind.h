// A tyrant's uWSGI vassal reads the bytes that were verified, at the path it was given (README "Tyrant mode"):
// uWSGI opens its config by name at every (re)exec and computes %p %d %n %e %o from that name, so the name stays and
// what is behind it is fixed. The emperor writes the verified bytes to a snapshot file of its own; the child, still
// root and already in its own mount namespace, bind-mounts the snapshot (read-only, nosuid, nodev, noexec) over the
// config's real path and checks that the name uWSGI will open now leads to it.
#pragma once
#include <napi.h>
#include <stdint.h>

#include <string>

namespace emperor {

struct ConfigBind {
  bool enabled = false;
  std::string source_s, target_s, check_s;
  // Set from the strings before clone: the child reads nothing else.
  const char* source = nullptr;  // the snapshot file
  const char* target = nullptr;  // the config file's real path, where the snapshot is mounted
  const char* check = nullptr;   // the name uWSGI opens, which must lead to the snapshot
  uint64_t dev = 0, ino = 0;     // the snapshot's
};

// spawn()'s `configBind` option ({source, target, check, dev, ino}) into *out; false with a TypeError thrown when
// malformed.
bool ReadConfigBind(Napi::Env env, Napi::Value v, ConfigBind* out);

// In the child, before child_setup_and_exec and with its mount namespace new: does nothing unless enabled, else
// binds and checks as above, or reports the failed step (config_bind, config_readonly, config_check: ESTALE when the
// name leads elsewhere) on report_fd and exits 127. Raw syscalls only (child_setup.h).
void BindConfig(const ConfigBind& b, int report_fd);

}  // namespace emperor
