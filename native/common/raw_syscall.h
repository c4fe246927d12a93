// System calls without libc: the result (or -errno) comes back in a register and stays on the caller's stack.
// A child cloned with CLONE_VM shares the emperor's memory, thread-local storage included, so glibc's wrappers
// (and syscall(2)) would write the main thread's errno behind its back; lazily bound PLT slots and locks are the
// same story. Everything the spawned child runs before execve goes through here.
#pragma once
#include <stdint.h>
#include <sys/syscall.h>

namespace emperor {

#if defined(__x86_64__)

inline long raw_syscall(long nr, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}

#elif defined(__aarch64__)

inline long raw_syscall(long nr, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  register long x8 __asm__("x8") = nr;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  register long x5 __asm__("x5") = f;
  __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
  return x0;
}

#else
#error "raw_syscall: only x86_64 and aarch64 are supported"
#endif

template <typename... A>
inline long sys(long nr, A... args) {
  return raw_syscall(nr, (long)args...);
}

// Retries a call the kernel interrupted; returns its result or -errno.
template <typename... A>
inline long sys_retry(long nr, A... args) {
  long r;
  do r = raw_syscall(nr, (long)args...);
  while (r == -4 /* EINTR */);
  return r;
}

[[noreturn]] inline void sys_exit_group(int code) {
  for (;;) raw_syscall(SYS_exit_group, code);
}

}  // namespace emperor
