// clone with CLONE_VM: the child starts on a stack of its own and runs fn(arg) there, then exits with its result.
// glibc has no clone3 wrapper and syscall(2) returns into the caller's frame, which the child cannot use: the
// stack switch has to happen in the same instruction sequence as the system call.
#pragma once

namespace emperor {

// Makes system call `nr` (SYS_clone3 or SYS_clone) with a0..a4; returns the child's pid or -errno in the parent.
// The kernel must be given a new stack in the arguments (16-byte aligned), or the child would run on ours.
long clone_vm_call(long nr, long a0, long a1, long a2, long a3, long a4, int (*fn)(void*), void* arg);

}  // namespace emperor
