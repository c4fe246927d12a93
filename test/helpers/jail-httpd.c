// jail-httpd: a static HTTP/1.0 file server for vassals jailed in a busybox root, where no Node runs. It serves
// files below its cwd from the listening socket the vassal init hands over as fd 3 (LISTEN_FDS), one connection
// at a time. Usage: jail-httpd (built with -static by test/helpers/cc.ts).
#define _GNU_SOURCE  // accept4
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void reply(int c, const char* status, const char* body, size_t len) {
  char head[128];
  int n = snprintf(head, sizeof head, "HTTP/1.0 %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status, len);
  if (write(c, head, (size_t)n) < 0 || write(c, body, len) < 0) perror("jail-httpd: write");
}

int main(void) {
  for (;;) {
    int c = accept4(3, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      perror("jail-httpd: accept");
      return 1;
    }
    char req[4096];
    ssize_t n = read(c, req, sizeof req - 1);
    req[n > 0 ? n : 0] = '\0';
    char path[1024];
    char body[65536];
    int fd = -1;
    // "GET /a/b HTTP/1.1": the file a/b relative to the cwd
    if (sscanf(req, "GET /%1023s", path) == 1) fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      reply(c, "404 Not Found", "not found\n", 10);
    } else {
      ssize_t len = read(fd, body, sizeof body);
      close(fd);
      if (len < 0) reply(c, "500 Error", "error\n", 6);
      else reply(c, "200 OK", body, (size_t)len);
    }
    close(c);
  }
}
