// emperor-agent: opens what a vassal config names and runs its @(exec://) commands with the credentials it was
// started with (a tenant's uid, gid and groups, no capabilities), so that the kernel decides what may be read; and
// does the monitors' scans for the emperor, off its event loop. It exits when its client closes the channel (between
// requests, or during an EXEC); its client abandons it (killed through its cgroup) when an answer is late, so it may
// block anywhere: a FUSE request that never returns costs one agent, not the emperor.
// Single-threaded; one request at a time on fd 3 until EOF. The wire format is documented in src/agent/agent-wire.ts.
#pragma once
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <string>

namespace agent {

constexpr int kSocketFd = 3;

// The limits of src/agent/agent-wire.ts.
constexpr uint32_t kMaxRequest = 16u << 20;
constexpr uint32_t kMaxLimit = 64u << 20;
constexpr uint32_t kMaxDirNames = 262144;
constexpr uint32_t kMaxDirBytes = 16u << 20;
// OPEN: symlinks followed at most (the kernel's own bound), directories and symlinks reported at most.
constexpr int kMaxLinks = 40;
constexpr uint32_t kMaxOpenSteps = 256;
// OPEN's fuse field besides a user_id: not on FUSE, or on a FUSE mount whose user_id could not be learned.
constexpr int64_t kNotFuse = -1;
constexpr int64_t kFuseOwnerUnknown = -2;

enum Op : uint8_t {
  kRead = 1,
  kStat = 2,
  kRealpath = 3,
  kReaddir = 4,
  kAccessX = 5,
  kExec = 6,
  kStatSources = 7,
  kLoad = 8,
  kBind = 9,
  kUnlinkSocket = 10,
  kOpen = 11,
};
enum Status : uint8_t { kOk = 0, kErrno = 1, kNotRegular = 2 };

// A request's fields in order. Reading past the end, or leaving bytes unread (done()), makes it unreadable.
class Reader {
 public:
  explicit Reader(const std::string& b) : b_(b) {}
  uint8_t u8();
  uint32_t u32();
  std::string str();
  size_t left() const { return b_.size() - p_; }
  bool done() const { return ok_ && p_ == b_.size(); }

 private:
  bool need(size_t n);
  const std::string& b_;
  size_t p_ = 0;
  bool ok_ = true;
};

// An answer frame being built; send() fills in the length prefix.
struct Answer {
  explicit Answer(Status s) : buf(4, '\0') { buf.push_back(char(s)); }
  void u8(uint8_t v) { buf.push_back(char(v)); }
  void u32(uint32_t v);
  void u64(uint64_t v);
  void str(const char* p, size_t n);
  // Fills in the length prefix.
  void seal();
  // Appends another answer, whole (length prefix included), to this one's payload.
  void nest(Answer& part);
  std::string buf;
};

// Each returns false when the client is gone (the agent then exits).
bool send(Answer& a);
bool send_errno(int err);
// The answer with fd attached (SCM_RIGHTS) to its first byte.
bool send_fd(Answer& a, int fd);

// A string a path syscall would silently cut at its first NUL.
inline bool has_nul(const std::string& s) { return s.find('\0') != std::string::npos; }

// Answers built, not sent: LOAD sends three of them in one frame.
Answer errno_answer(int err);
Answer read_answer(const std::string& path, uint32_t limit);
Answer stat_answer(const std::string& path, bool follow);
Answer realpath_answer(const std::string& path);
// lstat, realpath and read of one config file: what the config language needs of it, in one round trip.
Answer load_answer(const std::string& path, uint32_t limit);
// One open of a file by a walk from / (checked_open.cc): the facts that say whose it is, and its bytes.
Answer open_answer(const std::string& path, uint32_t limit);

// Shared by the ops: a file type as the wire numbers it, an mtime as it puts it (i64 s, u32 ns), the answer for what
// is not a regular file.
uint8_t file_type(mode_t m);
void put_mtime(Answer& a, const struct stat& st);
Answer not_regular(mode_t m);
// Appends fd's bytes to a, counted as read (st_size is only a hint), at most limit: 0, EFBIG or the read's errno.
int append_bytes(int fd, const struct stat& st, uint32_t limit, Answer& a);

// The ops, called once their fields are parsed; each sends its answer(s).
bool op_readdir(const std::string& path);
bool op_access_x(const std::string& path);
bool op_stat_source(const std::string& path, bool nofollow, bool tyrant_nofollow);
bool op_exec(const std::string& command, const std::string& cwd, uint32_t timeout_ms, uint32_t limit);
bool op_bind(uint8_t family, const std::string& address, uint32_t port, uint32_t mode, uint32_t backlog);
bool op_unlink_socket(const std::string& path, uint64_t ino);

}  // namespace agent
