#include "image/image_user.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "base/files.h"
#include "base/unique_fd.h"

namespace clawcage::image {

namespace {

// /etc/passwd or /etc/group of the rootfs as lines of fields ("" when the file is absent).
Result<std::vector<std::vector<std::string>>> read_db(const std::string& rootfs, const char* path) {
  UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return system_error("open", rootfs);
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  UniqueFd fd(static_cast<int>(syscall(SYS_openat2, root.get(), path, &how, sizeof how)));
  std::vector<std::vector<std::string>> rows;
  if (!fd) {
    if (errno == ENOENT) return rows;
    return system_error("open", rootfs + path);
  }
  TRY_ASSIGN(std::string text, read_fd(fd.get()));
  if (text.size() > (8 << 20)) return make_error("read", rootfs + path, "over 8 MiB");
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    std::string line = text.substr(start, end == std::string::npos ? end : end - start);
    start = end == std::string::npos ? text.size() : end + 1;
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fields;
    size_t f = 0;
    while (true) {
      size_t colon = line.find(':', f);
      fields.push_back(line.substr(f, colon == std::string::npos ? colon : colon - f));
      if (colon == std::string::npos) break;
      f = colon + 1;
    }
    rows.push_back(std::move(fields));
  }
  return rows;
}

bool parse_id(const std::string& s, uint32_t& out) {
  if (s.empty() || s.size() > 10 ||
      !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  unsigned long v = std::strtoul(s.c_str(), nullptr, 10);
  if (v > 0xfffffffeUL) return false;
  out = static_cast<uint32_t>(v);
  return true;
}

}  // namespace

Result<ImageUser> resolve_image_user(const std::string& rootfs, const std::string& user) {
  ImageUser out;
  size_t colon = user.find(':');
  std::string u = user.substr(0, colon),
              g = colon == std::string::npos ? "" : user.substr(colon + 1);
  if (u.empty()) return invalid_field("image User", "empty user in \"" + user + "\"");
  TRY_ASSIGN(auto passwd, read_db(rootfs, "/etc/passwd"));
  TRY_ASSIGN(auto groups, read_db(rootfs, "/etc/group"));
  std::string name;
  bool numeric = parse_id(u, out.uid);
  bool found = false;
  for (const auto& row : passwd) {
    if (row.size() < 4) continue;
    uint32_t uid = 0, gid = 0;
    if (!parse_id(row[2], uid) || !parse_id(row[3], gid)) continue;
    if ((numeric && uid == out.uid) || (!numeric && row[0] == u)) {
      out.uid = uid;
      out.gid = gid;
      name = row[0];
      found = true;
      break;
    }
  }
  if (!found && !numeric)
    return invalid_field(
        "image User", "no user \"" + u + "\" in the image's /etc/passwd (User \"" + user + "\")");
  if (!g.empty()) {
    if (!parse_id(g, out.gid)) {
      bool group_found = false;
      for (const auto& row : groups)
        if (row.size() >= 3 && row[0] == g && parse_id(row[2], out.gid)) {
          group_found = true;
          break;
        }
      if (!group_found)
        return invalid_field(
            "image User",
            "no group \"" + g + "\" in the image's /etc/group (User \"" + user + "\")");
    }
  } else if (!found) {
    out.gid = 0;
  }
  if (!name.empty()) {
    for (const auto& row : groups) {
      if (row.size() < 4) continue;
      uint32_t gid = 0;
      if (!parse_id(row[2], gid) || gid == out.gid) continue;
      size_t start = 0;
      const std::string& members = row[3];
      while (start <= members.size()) {
        size_t comma = members.find(',', start);
        if (members.substr(start, comma == std::string::npos ? comma : comma - start) == name) {
          if (std::find(out.groups.begin(), out.groups.end(), gid) == out.groups.end())
            out.groups.push_back(gid);
          break;
        }
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    }
  }
  return out;
}

}  // namespace clawcage::image
