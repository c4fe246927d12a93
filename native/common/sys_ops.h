// Thin error-returning wrappers (0 or -errno) over the mount-namespace syscalls, shared by the addon and the vassal
// init. pivot_root, chroot and sethostname are deliberately NOT exported to JS: called inside the live Node process
// they would change its root or its namespace's identity (docs/ARCHITECTURE.md, Hard rules); only the init and spawned
// children use them.
#pragma once

namespace emperor {

int sys_mount(const char* source, const char* target, const char* fstype, unsigned long flags, const void* data);
int sys_umount2(const char* target, int flags);
int sys_pivot_root(const char* new_root, const char* put_old);
int sys_chroot(const char* path);
int sys_sethostname(const char* name);

}  // namespace emperor
