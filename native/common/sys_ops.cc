#include "sys_ops.h"

#include <errno.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace emperor {
namespace {
int result(long r) { return r < 0 ? -errno : 0; }
}  // namespace

int sys_mount(const char* source, const char* target, const char* fstype, unsigned long flags, const void* data) {
  return result(mount(source, target, fstype, flags, data));
}
int sys_umount2(const char* target, int flags) { return result(umount2(target, flags)); }
int sys_pivot_root(const char* new_root, const char* put_old) {
  return result(syscall(SYS_pivot_root, new_root, put_old));  // glibc has no wrapper
}
int sys_chroot(const char* path) { return result(chroot(path)); }
int sys_sethostname(const char* name) {
  size_t n = 0;
  while (name[n]) n++;
  return result(sethostname(name, n));
}

}  // namespace emperor
