// Layout detection and the helpers both backends share: names, parsing, member listing,
// killing by pidfd, bounded waits and bounded removal.
#include "linux/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <set>
#include <sstream>
#include <thread>

#include "base/files.h"
#include "linux/cgroup_internal.h"

namespace clawcage::os {

namespace ci = cgroup_internal;

Result<std::unique_ptr<CgroupManager>> CgroupManager::detect(const std::string& root,
                                                             const std::string& parent) {
  TRY(ci::check_name(parent).context("choosing the cgroup parent"));
  struct statfs st;
  if (::statfs(root.c_str(), &st) != 0) return system_error("statfs", root);
  if (st.f_type == CGROUP2_SUPER_MAGIC) return ci::make_v2_manager(root, {}, parent);
  if (st.f_type != TMPFS_MAGIC) {
    std::ostringstream magic;
    magic << "0x" << std::hex << static_cast<unsigned long>(st.f_type);
    return make_error(
        "detect cgroup layout", root,
        "neither a cgroup2 mount nor a tmpfs holding v1 hierarchies (f_type " + magic.str() + ")");
  }
  std::string unified = root + "/unified";
  struct statfs ust;
  if (::statfs(unified.c_str(), &ust) == 0 && ust.f_type == CGROUP2_SUPER_MAGIC)
    return ci::make_v1_manager(root, CgroupLayout::v1_hybrid, false, parent);
  return ci::make_v1_manager(root, CgroupLayout::v1_legacy, false, parent);
}

namespace cgroup_internal {
namespace {

// Names of the subdirectories of `path` (nested cgroups). ENOENT -> empty, not an error.
Result<std::vector<std::string>> list_subdirs(const std::string& path, bool* missing = nullptr) {
  if (missing) *missing = false;
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      if (missing) *missing = true;
      return std::vector<std::string>{};
    }
    return system_error("open", path);
  }
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    Error e = system_error("fdopendir", path);
    ::close(fd);
    return e;
  }
  std::vector<std::string> out;
  errno = 0;
  while (struct dirent* ent = ::readdir(dir)) {
    std::string name = ent->d_name;
    if (name == "." || name == "..") continue;
    bool is_dir = ent->d_type == DT_DIR;
    if (ent->d_type == DT_UNKNOWN) {
      struct stat st;
      is_dir = ::fstatat(fd, ent->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    }
    if (is_dir) out.push_back(std::move(name));
    errno = 0;
  }
  int saved = errno;
  ::closedir(dir);
  if (saved != 0) return system_error(saved, "readdir", path);
  std::sort(out.begin(), out.end());
  return out;
}

Result<void> collect_procs(const std::string& dir, bool recursive, int depth,
                           std::vector<pid_t>& out) {
  if (depth > kMaxDepth)
    return make_error("list cgroup members", dir, "nested deeper than the walk allows");
  auto text = read_file(dir + "/cgroup.procs");
  if (!text) {
    // The directory went away (removed concurrently): it has no members.
    if (text.error().code == ENOENT && !path_exists(dir)) return ok();
    return std::move(text).error();
  }
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    auto v = parse_u64(line);
    if (v && *v > 0) out.push_back(static_cast<pid_t>(*v));
  }
  if (!recursive) return ok();
  TRY_ASSIGN(auto subdirs, list_subdirs(dir));
  for (const auto& sub : subdirs) TRY(collect_procs(dir + "/" + sub, true, depth + 1, out));
  return ok();
}

std::string pid_list(const std::vector<pid_t>& pids) {
  std::string out;
  for (size_t i = 0; i < pids.size() && i < 8; ++i) out += (i ? " " : "") + std::to_string(pids[i]);
  if (pids.size() > 8) out += " ...";
  return out;
}

}  // namespace

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 128 || name[0] == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

Result<void> check_name(const std::string& name) {
  if (valid_name(name)) return ok();
  Error e = invalid_field("cgroup name \"" + name + "\"",
                          "expected 1 to 128 of [A-Za-z0-9_.-], not starting with a dot");
  e.code = EINVAL;
  return e;
}

std::string v1_limit(int64_t value) {
  return value < 0 ? "-1" : std::to_string(value);
}
std::string v2_limit(int64_t value) {
  return value < 0 ? "max" : std::to_string(value);
}

uint64_t shares_to_weight(uint64_t shares) {
  shares = std::clamp<uint64_t>(shares, 2, 262144);
  return 1 + ((shares - 2) * 9999) / 262142;
}

std::optional<uint64_t> parse_u64(const std::string& text) {
  std::string t = trim(text);
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc() || end != t.data() + t.size()) return std::nullopt;
  return v;
}

Result<std::string> read_trimmed(const std::string& path) {
  TRY_ASSIGN(std::string text, read_file(path));
  return trim(text);
}

Result<void> set_frozen_v2(const std::string& dir, bool frozen) {
  TRY(write_file(dir + "/cgroup.freeze", frozen ? "1" : "0"));
  auto deadline = std::chrono::steady_clock::now() + kPauseTimeout;
  auto sleep = std::chrono::microseconds(200);
  for (;;) {
    TRY_ASSIGN(uint64_t now, read_keyed_u64(dir + "/cgroup.events", "frozen"));
    if ((now == 1) == frozen) return ok();
    if (std::chrono::steady_clock::now() >= deadline)
      return make_error(
          frozen ? "freeze" : "thaw", dir,
          "the kernel did not finish within " + std::to_string(kPauseTimeout.count()) + " ms");
    std::this_thread::sleep_for(sleep);
    sleep = std::min(sleep * 2, std::chrono::microseconds(20000));
  }
}

Result<uint64_t> read_u64(const std::string& path) {
  TRY_ASSIGN(std::string text, read_file(path));
  auto v = parse_u64(text);
  if (!v)
    return make_error("parse", path, "expected an unsigned integer, got \"" + trim(text) + "\"");
  return *v;
}

Result<uint64_t> read_keyed_u64(const std::string& path, const std::string& key) {
  TRY_ASSIGN(std::string text, read_file(path));
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() <= key.size() || line.compare(0, key.size(), key) != 0 ||
        line[key.size()] != ' ')
      continue;
    auto v = parse_u64(line.substr(key.size() + 1));
    if (!v) return make_error("parse", path, "bad value in line \"" + line + "\"");
    return *v;
  }
  return make_error("parse", path, "no \"" + key + "\" line");
}

Result<std::vector<pid_t>> read_procs(const std::string& dir, bool recursive) {
  std::vector<pid_t> pids;
  TRY(collect_procs(dir, recursive, 0, pids));
  return pids;
}

Result<std::vector<pid_t>> read_members(const std::vector<std::string>& dirs) {
  std::vector<pid_t> pids;
  for (const auto& dir : dirs) TRY(collect_procs(dir, true, 0, pids));
  std::sort(pids.begin(), pids.end());
  pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
  return pids;
}

Result<void> kill_members(const std::vector<std::string>& dirs) {
  TRY_ASSIGN(auto pids, read_members(dirs));
  if (pids.empty()) return ok();
  // Pin every pid with a pidfd first, then check it is still a member: a pid that exited
  // and was reused by an unrelated process between the two reads is not listed any more.
  std::vector<std::pair<pid_t, UniqueFd>> pinned;
  bool no_pidfd = false;
  for (pid_t pid : pids) {
    int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) {
      if (errno == ESRCH) continue;  // gone already
      if (errno == ENOSYS) {
        no_pidfd = true;
        break;
      }
      return system_error("pidfd_open", "pid " + std::to_string(pid) + " of " + dirs.front());
    }
    pinned.emplace_back(pid, UniqueFd(fd));
  }
  if (no_pidfd) {
    // Kernels before 5.3. Frozen members cannot exit, so their pids cannot be reused.
    for (pid_t pid : pids)
      if (::kill(pid, SIGKILL) != 0 && errno != ESRCH)
        return system_error("kill", "pid " + std::to_string(pid) + " of " + dirs.front());
    return ok();
  }
  TRY_ASSIGN(auto still, read_members(dirs));
  for (auto& [pid, fd] : pinned) {
    if (!std::binary_search(still.begin(), still.end(), pid)) continue;
    if (::syscall(SYS_pidfd_send_signal, fd.get(), SIGKILL, nullptr, 0) != 0 && errno != ESRCH)
      return system_error("pidfd_send_signal",
                          "pid " + std::to_string(pid) + " of " + dirs.front());
  }
  return ok();
}

Result<void> wait_empty(const std::vector<std::string>& dirs,
                        std::chrono::steady_clock::time_point deadline) {
  auto sleep = std::chrono::milliseconds(1);
  // The count bound is generous: the deadline normally ends the loop first.
  for (int round = 0; round < 10000; ++round) {
    bool empty = true;
    for (const auto& dir : dirs) {
      TRY_ASSIGN(auto pids, read_procs(dir, true));
      if (pids.empty()) continue;
      empty = false;
      if (std::chrono::steady_clock::now() >= deadline)
        return make_error("wait for cgroup to empty", dir,
                          "still has members after the kill: " + pid_list(pids));
      break;
    }
    if (empty) return ok();
    std::this_thread::sleep_for(sleep);
    sleep = std::min(sleep * 2, std::chrono::milliseconds(32));
  }
  return make_error("wait for cgroup to empty", dirs.front(), "still has members");
}

namespace {

Result<void> remove_tree_at(const std::string& path, const DirHook& before_rmdir, int depth) {
  if (depth > kMaxDepth) return make_error("rmdir", path, "cgroups nested too deep to remove");
  auto deadline = std::chrono::steady_clock::now() + kRmdirTimeout;
  auto sleep = std::chrono::milliseconds(1);
  int last_errno = 0;
  int attempts = 0;
  while (attempts < kRmdirAttempts) {
    bool missing = false;
    TRY_ASSIGN(auto subdirs, list_subdirs(path, &missing));
    if (missing) return ok();
    for (const auto& sub : subdirs) TRY(remove_tree_at(path + "/" + sub, before_rmdir, depth + 1));
    if (before_rmdir) before_rmdir(path);
    ++attempts;
    if (::rmdir(path.c_str()) == 0 || errno == ENOENT) return ok();
    last_errno = errno;
    // EBUSY: members still exiting (v1 memory is the slowest); ENOTEMPTY: a nested cgroup
    // appeared between the listing and the rmdir.
    if (last_errno != EBUSY && last_errno != ENOTEMPTY && last_errno != EAGAIN &&
        last_errno != EINTR)
      return system_error(last_errno, "rmdir", path);
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(sleep);
    sleep = std::min(sleep * 2, std::chrono::milliseconds(50));
  }
  Error e = system_error(last_errno, "rmdir", path);
  e.detail = "gave up after " + std::to_string(attempts) + " attempts";
  return e;
}

}  // namespace

Result<void> remove_tree(const std::string& path, const DirHook& before_rmdir) {
  return remove_tree_at(path, before_rmdir, 0);
}

std::vector<std::string> list_children(const std::vector<std::string>& parents) {
  std::set<std::string> names;
  for (const auto& parent : parents) {
    auto subdirs = list_subdirs(parent);
    if (!subdirs) continue;  // an unreadable hierarchy contributes nothing
    for (auto& name : *subdirs)
      if (valid_name(name)) names.insert(std::move(name));
  }
  return {names.begin(), names.end()};
}

}  // namespace cgroup_internal
}  // namespace clawcage::os
