#define _GNU_SOURCE /* accept4 */
/* The vassal of bench/scale.ts, the same program under both emperors: it listens on an abstract unix socket
 * (one "ok" per connection), appends "<name> <CLOCK_REALTIME seconds>" to the bench's ready file once it serves,
 * tells its emperor it is accepting and loyal (UWSGI_EMPEROR_FD), and exits on a stop byte, on SIGTERM or when the
 * emperor's end of the socket closes. Built by the bench: cc -O2 -o scale-vassal scale-vassal.c
 * Usage: scale-vassal NAME READY_FILE SOCKET_PREFIX */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a;
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "%s%s", argv[3], argv[1]);
  /* the whole zero-padded sun_path is the name: the length libuv (the bench's client) connects with */
  if (ls < 0 || bind(ls, (struct sockaddr*)&a, sizeof a) < 0 ||
      listen(ls, 16) < 0) {
    perror("scale-vassal: listen");
    return 1;
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  char line[512];
  int n = snprintf(line, sizeof line, "%s %lld.%09ld\n", argv[1], (long long)ts.tv_sec, ts.tv_nsec);
  int out = open(argv[2], O_WRONLY | O_APPEND | O_CLOEXEC);
  if (out < 0 || write(out, line, n) != n) return 1; /* one short O_APPEND write: lines never interleave */
  close(out);
  const char* e = getenv("UWSGI_EMPEROR_FD");
  int efd = e ? atoi(e) : -1;
  if (efd >= 0) {
    const unsigned char hello[2] = {5 /* accepting */, 17 /* loyal */};
    if (write(efd, hello, 2) != 2) return 1;
  }
  struct pollfd p[2] = {{ls, POLLIN, 0}, {efd, POLLIN, 0}};
  for (;;) {
    if (poll(p, efd >= 0 ? 2 : 1, -1) < 0) continue;
    if (p[0].revents & POLLIN) {
      int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
      if (c >= 0) {
        if (write(c, "ok\n", 3) < 0) { /* the client went: nothing to say */ }
        close(c);
      }
    }
    if (efd >= 0 && p[1].revents) {
      unsigned char b;
      ssize_t r = read(efd, &b, 1);
      if (r <= 0 || b == 0 || b == 2) return 0; /* stop, graceful stop, or the emperor is gone */
    }
  }
}
