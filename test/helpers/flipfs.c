// flipfs: a FUSE daemon serving one file, vassal.ini, that says it is owned by UID:GID and serves the bytes of FIRST
// to its first open and the bytes of SECOND to every later one (each open's reads stay with its own bytes). The
// deterministic form of a file whose content changes between the open whose owner was checked and any later open.
// UID and GID may be "BEFORE,AFTER": the owner it reports until its first open, and from then on (a file whose
// owner changes between a look at it and its open).
// Usage: flipfs MOUNTPOINT UID GID FIRST SECOND [DAEMON_UID] (as root; mounted user_id=DAEMON_UID, default 0, as if
// that user's daemon served it; allow_other; runs until unmounted or killed). No cache: every lookup, getattr and
// read reaches the daemon.
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char* content[2];
static size_t length;
static unsigned uid[2], gid[2];  // before the first open, and from then on
static int opens;
static time_t started;  // every time the file reports: a changing mtime would look like an edit to the emperor

static char* slurp(const char* path, size_t* n) {
  FILE* f = fopen(path, "rb");
  if (!f) {
    perror(path);
    exit(1);
  }
  char* buf = malloc(1 << 20);
  *n = fread(buf, 1, 1 << 20, f);
  fclose(f);
  return buf;
}

static void attr(struct fuse_attr* a, uint64_t node) {
  memset(a, 0, sizeof *a);
  a->ino = node;
  a->atime = a->mtime = a->ctime = (uint64_t)started;
  a->blksize = 4096;
  if (node == FUSE_ROOT_ID) {
    a->mode = S_IFDIR | 0755;
    a->nlink = 2;
  } else {
    a->mode = S_IFREG | 0644;
    a->nlink = 1;
    a->size = length;
    a->blocks = (length + 511) / 512;
    a->uid = uid[opens > 0];
    a->gid = gid[opens > 0];
  }
}

static void reply(int fd, uint64_t unique, int error, const void* body, size_t n) {
  char out[sizeof(struct fuse_out_header) + 65536];
  struct fuse_out_header* h = (struct fuse_out_header*)out;
  h->unique = unique;
  h->error = error;
  h->len = sizeof *h + (error ? 0 : n);
  if (!error && n) memcpy(out + sizeof *h, body, n);
  if (write(fd, out, h->len) < 0 && errno != ENOENT) perror("flipfs: reply");
}

int main(int argc, char** argv) {
  if (argc != 6 && argc != 7) {
    fprintf(stderr, "usage: flipfs MOUNTPOINT UID GID FIRST SECOND [DAEMON_UID]\n");
    return 2;
  }
  started = time(NULL);
  if (sscanf(argv[2], "%u,%u", &uid[0], &uid[1]) < 2) uid[1] = uid[0];
  if (sscanf(argv[3], "%u,%u", &gid[0], &gid[1]) < 2) gid[1] = gid[0];
  size_t n0, n1;
  content[0] = slurp(argv[4], &n0);
  content[1] = slurp(argv[5], &n1);
  // one size for both (the shorter padded with newlines): the size getattr reports never cuts a read short
  length = n0 > n1 ? n0 : n1;
  memset(content[0] + n0, '\n', length - n0);
  memset(content[1] + n1, '\n', length - n1);
  int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    perror("flipfs: /dev/fuse");
    return 1;
  }
  char opts[160];
  snprintf(opts, sizeof opts, "fd=%d,rootmode=40000,user_id=%d,group_id=0,allow_other,default_permissions", fd,
           argc == 7 ? atoi(argv[6]) : 0);
  if (mount("flipfs", argv[1], "fuse.flipfs", MS_NOSUID | MS_NODEV, opts) < 0) {
    perror("flipfs: mount");
    return 1;
  }
  static char buf[(1 << 20) + 4096];
  for (;;) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (r < 0) return errno == ENODEV ? 0 : 1;  // ENODEV: unmounted
    struct fuse_in_header* in = (struct fuse_in_header*)buf;
    void* arg = buf + sizeof *in;
    switch (in->opcode) {
      case FUSE_INIT: {
        struct fuse_init_in* req = arg;
        struct fuse_init_out init = {0};
        init.major = FUSE_KERNEL_VERSION;
        init.minor = req->minor < FUSE_KERNEL_MINOR_VERSION ? req->minor : FUSE_KERNEL_MINOR_VERSION;
        init.max_readahead = req->max_readahead;
        init.max_write = 65536;
        init.max_background = 16;
        init.congestion_threshold = 12;
        reply(fd, in->unique, 0, &init, sizeof init);
        break;
      }
      case FUSE_LOOKUP: {
        if (in->nodeid != FUSE_ROOT_ID || strcmp((char*)arg, "vassal.ini") != 0) {
          reply(fd, in->unique, -ENOENT, NULL, 0);
          break;
        }
        struct fuse_entry_out e = {0};
        e.nodeid = 2;
        e.generation = 1;
        attr(&e.attr, 2);
        reply(fd, in->unique, 0, &e, sizeof e);
        break;
      }
      case FUSE_GETATTR: {
        struct fuse_attr_out a = {0};
        attr(&a.attr, in->nodeid);
        reply(fd, in->unique, 0, &a, sizeof a);
        break;
      }
      case FUSE_OPEN:
      case FUSE_OPENDIR: {
        struct fuse_open_out o = {0};
        if (in->opcode == FUSE_OPEN) {
          o.fh = opens++ == 0 ? 0 : 1;
          o.open_flags = FOPEN_DIRECT_IO;
        }
        reply(fd, in->unique, 0, &o, sizeof o);
        break;
      }
      case FUSE_READ: {
        struct fuse_read_in* rd = arg;
        size_t at = rd->offset < length ? rd->offset : length;
        size_t want = length - at < rd->size ? length - at : rd->size;
        if (want > 65536) want = 65536;
        reply(fd, in->unique, 0, content[rd->fh ? 1 : 0] + at, want);
        break;
      }
      case FUSE_READDIR:
      case FUSE_RELEASE:
      case FUSE_RELEASEDIR:
      case FUSE_FLUSH:
      case FUSE_ACCESS:
        reply(fd, in->unique, 0, NULL, 0);
        break;
      case FUSE_STATFS: {
        struct fuse_statfs_out s = {0};
        s.st.bsize = s.st.frsize = 4096;
        s.st.namelen = 255;
        reply(fd, in->unique, 0, &s, sizeof s);
        break;
      }
      case FUSE_FORGET:
      case FUSE_BATCH_FORGET:
      case FUSE_INTERRUPT:
        break;  // never answered
      case FUSE_DESTROY:
        return 0;
      default:
        reply(fd, in->unique, -ENOSYS, NULL, 0);
    }
  }
}
