#include "clone_vm.h"

namespace emperor {

#if defined(__x86_64__)

long clone_vm_call(long nr, long a0, long a1, long a2, long a3, long a4, int (*fn)(void*), void* arg) {
  long ret;
  register long r10 __asm__("r10") = a3;
  register long r8 __asm__("r8") = a4;
  // r12/r13 survive the syscall in both processes; the child finds fn and arg there on its empty stack
  register long r12 __asm__("r12") = reinterpret_cast<long>(fn);
  register long r13 __asm__("r13") = reinterpret_cast<long>(arg);
  __asm__ volatile(
      "syscall\n\t"
      "test %%rax, %%rax\n\t"
      "jnz 1f\n\t"
      "xor %%ebp, %%ebp\n\t"  // the outermost frame, for a debugger's backtrace
      "mov %%r13, %%rdi\n\t"
      "call *%%r12\n\t"
      "mov %%eax, %%edi\n\t"
      "mov $231, %%eax\n\t"  // exit_group
      "syscall\n\t"
      "hlt\n\t"
      "1:\n\t"
      : "=a"(ret)
      : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r12), "r"(r13)
      : "rcx", "r11", "memory", "cc");
  return ret;
}

#elif defined(__aarch64__)

long clone_vm_call(long nr, long a0, long a1, long a2, long a3, long a4, int (*fn)(void*), void* arg) {
  register long x8 __asm__("x8") = nr;
  register long x0 __asm__("x0") = a0;
  register long x1 __asm__("x1") = a1;
  register long x2 __asm__("x2") = a2;
  register long x3 __asm__("x3") = a3;
  register long x4 __asm__("x4") = a4;
  register long x19 __asm__("x19") = reinterpret_cast<long>(fn);
  register long x20 __asm__("x20") = reinterpret_cast<long>(arg);
  __asm__ volatile(
      "svc #0\n\t"
      "cbnz x0, 1f\n\t"
      "mov x29, xzr\n\t"
      "mov x30, xzr\n\t"
      "mov x0, x20\n\t"
      "blr x19\n\t"
      "mov x8, #94\n\t"  // exit_group
      "svc #0\n\t"
      "brk #0\n\t"
      "1:\n\t"
      : "+r"(x0)
      : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x19), "r"(x20)
      : "memory", "cc", "x30");
  return x0;
}

#else
#error "clone_vm_call: only x86_64 and aarch64 are supported"
#endif

}  // namespace emperor
