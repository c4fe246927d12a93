// The vassal's stdout and stderr, relayed to the emperor on the control fd: the init holds the two pipes that
// everything it runs writes to (hooks and the app), so a native vassal costs the emperor no fd for its output.
// Reads stop while the control socket has a backlog, or once a second's byte budget is spent: a flooding app then
// blocks on its own full pipe, and the emperor only ever reads what it can take.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "init.h"

namespace init {
namespace {

// Read ends of the stdout and stderr pipes; -1 when the relay is off (the init writes where the emperor said).
int pipes[2] = {-1, -1};
int64_t window_start = 0;
size_t window_bytes = 0;

// Bytes relayed per second: the emperor holds a vassal to the same figure (src/byte-budget.ts; test/jail.wire.test.ts).
constexpr size_t kBudget = 4u << 20;
// Output is read only while less than this waits for the control socket.
constexpr size_t kBacklog = 64u << 10;
constexpr size_t kChunk = 16u << 10;

int64_t mono_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// False while this second's budget is spent; then `wait_ms` is when the next second begins.
bool budget_left(int64_t now, int* wait_ms) {
  if (now - window_start >= 1000) {
    window_start = now;
    window_bytes = 0;
  }
  if (window_bytes < kBudget) return true;
  *wait_ms = int(window_start + 1000 - now);
  return false;
}

// Reads one pipe into frames for the emperor: a few chunks, or (all) until it is empty, waiting for the emperor
// to take its backlog.
void drain(int stream, bool all) {
  for (int round = 0; all || round < 4; round++) {
    if (pending_output() >= kBacklog) {
      if (!all) return;
      flush_output(true);
    }
    char buf[kChunk + 1];
    buf[0] = char(stream);
    ssize_t n;
    do n = read(pipes[stream - 1], buf + 1, kChunk);
    while (n < 0 && errno == EINTR);
    if (n <= 0) return;  // EAGAIN; never EOF: the init holds the write ends
    window_bytes += size_t(n);
    queue_frame(kMsgOutput, std::string(buf, size_t(n) + 1));
  }
}

}  // namespace

bool relay_output() {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) < 0) return false;
  if (pipe2(err, O_CLOEXEC) < 0) {
    close(out[0]), close(out[1]);
    return false;
  }
  // dup2 leaves fds 1 and 2 inheritable: every hook and the app write to them
  dup2(out[1], 1);
  dup2(err[1], 2);
  close(out[1]);
  close(err[1]);
  pipes[0] = out[0];
  pipes[1] = err[0];
  for (int fd : pipes) fcntl(fd, F_SETFL, O_NONBLOCK);
  return true;
}

int poll_relaying(pollfd* fds, int n, int timeout_ms) {
  pollfd all[16];
  for (int i = 0; i < n; i++) all[i] = fds[i];
  int total = n;
  int64_t now = mono_ms();
  int wait_ms = -1;
  bool reading = pipes[0] >= 0 && pending_output() < kBacklog && budget_left(now, &wait_ms);
  int first_pipe = total;
  if (pipes[0] >= 0) {
    all[total++] = {reading ? pipes[0] : -1, POLLIN, 0};
    all[total++] = {reading ? pipes[1] : -1, POLLIN, 0};
  }
  int out_at = pending_output() ? total : -1;
  if (out_at >= 0) all[total++] = {kControlFd, POLLOUT, 0};
  if (wait_ms >= 0 && (timeout_ms < 0 || wait_ms < timeout_ms)) timeout_ms = wait_ms;
  int r = poll(all, nfds_t(total), timeout_ms);
  int saved = errno;
  for (int i = 0; i < n; i++) fds[i].revents = all[i].revents;
  if (r > 0) {
    if (out_at >= 0 && all[out_at].revents) flush_output(false);
    for (int s = 0; s < 2 && pipes[0] >= 0; s++)
      if (all[first_pipe + s].fd >= 0 && all[first_pipe + s].revents) drain(s + 1, false);
  }
  errno = saved;
  if (r < 0) return r;
  int mine = 0;  // the caller's own entries that fired: the relay's are handled here
  for (int i = 0; i < n; i++) mine += fds[i].revents != 0;
  return mine;
}

void relay_remaining() {
  if (pipes[0] < 0) return;
  for (int s = 1; s <= 2; s++) drain(s, true);
}

}  // namespace init
