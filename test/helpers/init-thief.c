// A tenant's attack on her own native vassal: take its init's control socket (pidfd_open + pidfd_getfd: same uid,
// no Yama) and write on it what she likes, as the init would. Never reads (that would steal the emperor's frames).
//   init-thief PID FD bytes HEX          write these bytes, then exit
//   init-thief PID FD huge SECONDS       a frame header announcing 0x7ffffff0 bytes, then as much as goes in SECONDS
//   init-thief PID FD flood SECONDS      valid output frames (16 KiB lines of text) as fast as they go, for SECONDS
// Prints the bytes written. The stolen descriptor shares the init's O_NONBLOCK: writes wait in poll, up to the end.
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long written;

// Writes all of buf unless the deadline passes first; 0 when it did not all go.
static int put(int fd, const unsigned char* buf, size_t len, double deadline) {
  size_t off = 0;
  while (off < len) {
    ssize_t n = write(fd, buf + off, len - off);
    if (n > 0) {
      off += (size_t)n;
      written += n;
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return 0;
    double left = deadline - now();
    if (left <= 0) return 0;
    struct pollfd p = {fd, POLLOUT, 0};
    poll(&p, 1, (int)(left * 1000) + 1);
  }
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: init-thief PID FD bytes HEX | huge SECONDS | flood SECONDS\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);  // the emperor closes its end once it has killed the vassal: EPIPE, not death
  int pidfd = (int)syscall(SYS_pidfd_open, atoi(argv[1]), 0);
  if (pidfd < 0) return perror("pidfd_open"), 1;
  int fd = (int)syscall(SYS_pidfd_getfd, pidfd, atoi(argv[2]), 0);
  if (fd < 0) return perror("pidfd_getfd"), 1;
  if (strcmp(argv[3], "bytes") == 0) {
    size_t n = strlen(argv[4]) / 2;
    unsigned char* b = malloc(n + 1);
    for (size_t i = 0; i < n; i++) sscanf(argv[4] + 2 * i, "%2hhx", &b[i]);
    put(fd, b, n, now() + 5);
  } else {
    double end = now() + atof(argv[4]);
    int huge = strcmp(argv[3], "huge") == 0;
    enum { kLine = 16384 };
    static unsigned char frame[4 + 1 + 1 + kLine];
    uint32_t len = 1 + 1 + kLine;
    memcpy(frame, &len, 4);
    frame[4] = 'o';
    frame[5] = 1;
    memset(frame + 6, 'x', kLine);
    frame[sizeof frame - 1] = '\n';
    if (huge) {
      unsigned char head[5] = {0xf0, 0xff, 0xff, 0x7f, 'o'};
      put(fd, head, sizeof head, end);
    }
    // huge: the body of the announced frame, as long as it goes in; flood: one valid frame after another
    while (now() < end && put(fd, huge ? frame + 6 : frame, huge ? kLine : sizeof frame, end)) {
    }
  }
  printf("%lld\n", written);
  return 0;
}
