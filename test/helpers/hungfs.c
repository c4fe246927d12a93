// hungfs: a FUSE daemon that answers FUSE_INIT and then reads every request without ever answering it. The
// deterministic form of a FUSE daemon that read a request and hung: the requesting task sleeps uninterruptibly
// (SIGKILL does not end it) until this process dies. Usage: hungfs MOUNTPOINT (as root; runs until killed).
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: hungfs MOUNTPOINT\n");
    return 2;
  }
  int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    perror("hungfs: /dev/fuse");
    return 1;
  }
  char opts[128];
  // allow_other: every uid (a tenant's reader too) gets its requests sent here, and hung, instead of EACCES
  snprintf(opts, sizeof opts, "fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other", fd);
  if (mount("hungfs", argv[1], "fuse.hungfs", MS_NOSUID | MS_NODEV, opts) < 0) {
    perror("hungfs: mount");
    return 1;
  }
  size_t size = (1 << 20) + 4096;
  char* buf = malloc(size);
  for (;;) {
    ssize_t n = read(fd, buf, size);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return errno == ENODEV ? 0 : 1;  // ENODEV: unmounted
    if ((size_t)n < sizeof(struct fuse_in_header)) continue;
    struct fuse_in_header* in = (struct fuse_in_header*)buf;
    if (in->opcode != FUSE_INIT) continue;  // read, and never answered
    struct {
      struct fuse_out_header h;
      struct fuse_init_out init;
    } out;
    memset(&out, 0, sizeof out);
    struct fuse_init_in* req = (struct fuse_init_in*)(buf + sizeof *in);
    out.h.len = sizeof out;
    out.h.unique = in->unique;
    out.init.major = FUSE_KERNEL_VERSION;
    out.init.minor = req->minor < FUSE_KERNEL_MINOR_VERSION ? req->minor : FUSE_KERNEL_MINOR_VERSION;
    out.init.max_readahead = req->max_readahead;
    out.init.max_write = 65536;
    out.init.max_background = 16;
    out.init.congestion_threshold = 12;
    if (write(fd, &out, sizeof out) < 0) {
      perror("hungfs: init reply");
      return 1;
    }
  }
}
