// User and group names, read from the jail's own /etc/passwd and /etc/group (after pivot_root/chroot). The files
// are parsed here instead of going through NSS so the init can be linked statically: a static glibc's getpwnam
// needs the host's NSS modules at run time, which a busybox jail does not have.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "init.h"

namespace init {
namespace {

// Calls fn(fields, n) for each line of a colon-separated database until fn returns true.
template <typename Fn>
bool scan(const char* file, Fn fn) {
  FILE* f = fopen(file, "re");
  if (!f) return false;
  char line[4096];
  bool found = false;
  while (!found && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    char* fields[7] = {};
    int n = 0;
    char* p = line;
    while (n < 7) {
      fields[n++] = p;
      p = strchr(p, ':');
      if (!p) break;
      *p++ = '\0';
    }
    found = fn(fields, n);
  }
  fclose(f);
  return found;
}

bool number(const char* s, unsigned long& out) {
  if (!*s) return false;
  char* end;
  out = strtoul(s, &end, 10);
  return *end == '\0';
}

bool in_member_list(char* list, const std::string& user) {
  for (char *save = nullptr, *m = strtok_r(list, ",", &save); m; m = strtok_r(nullptr, ",", &save))
    if (user == m) return true;
  return false;
}

}  // namespace

bool lookup_user(const std::string& name, uid_t& uid, gid_t& gid, std::string& user) {
  unsigned long id;
  bool numeric = number(name.c_str(), id);
  bool found = scan("/etc/passwd", [&](char** f, int n) {
    unsigned long u, g;
    if (n < 4 || !number(f[2], u) || !number(f[3], g)) return false;
    if (numeric ? u != id : name != f[0]) return false;
    uid = uid_t(u);
    gid = gid_t(g);
    user = f[0];
    return true;
  });
  if (found || !numeric) return found;
  uid = uid_t(id);  // a bare number needs no passwd entry
  gid = gid_t(id);
  user.clear();
  return true;
}

bool lookup_group(const std::string& name, gid_t& gid) {
  unsigned long id;
  if (number(name.c_str(), id)) {
    gid = gid_t(id);
    return true;
  }
  return scan("/etc/group", [&](char** f, int n) {
    unsigned long g;
    if (n < 3 || name != f[0] || !number(f[2], g)) return false;
    gid = gid_t(g);
    return true;
  });
}

// initgroups(3): the primary gid plus every group listing the user as a member.
std::vector<gid_t> user_groups(const std::string& user, gid_t primary) {
  std::vector<gid_t> out{primary};
  scan("/etc/group", [&](char** f, int n) {
    unsigned long g;
    if (n >= 4 && number(f[2], g) && gid_t(g) != primary && in_member_list(f[3], user)) out.push_back(gid_t(g));
    return false;
  });
  return out;
}

}  // namespace init
