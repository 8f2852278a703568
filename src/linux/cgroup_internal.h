// What cgroup.cc, cgroup_v1.cc and cgroup_v2.cc share, and the seams the tests use.
// Nothing outside src/linux/cgroup*.cc and tests/linux/cgroup_test.cc includes this.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "linux/cgroup.h"

namespace clawcage::os::cgroup_internal {

// Every sandbox lives in "<hierarchy>/clawcage/<name>". The parent is shared by all
// sandboxes and never removed (removing it would race with a concurrent create).
inline constexpr const char* kParentName = "clawcage";

// Bounds of every wait. Loops are bounded in count and in time, whichever ends first.
inline constexpr std::chrono::milliseconds kKillTimeout{2000};   // until cgroup.procs is empty
inline constexpr std::chrono::milliseconds kFreezeTimeout{200};  // v1 FREEZING -> FROZEN
inline constexpr std::chrono::milliseconds kPauseTimeout{5000};  // pause/resume (runc's is 10 s)
inline constexpr std::chrono::milliseconds kRmdirTimeout{1000};  // per directory
inline constexpr int kRmdirAttempts = 50;                        // per directory
inline constexpr int kMaxDepth = 32;  // nested cgroups below a sandbox dir we walk into

// [A-Za-z0-9_.-], 1..128 characters, no leading dot. Keeps "." / ".." / "a/b" out.
bool valid_name(const std::string& name);
Result<void> check_name(const std::string& name);

// "max"/"-1"-style limits: -1 means unlimited. For v1 files "-1" is the kernel's own word.
std::string v1_limit(int64_t value);  // -1 -> "-1"
std::string v2_limit(int64_t value);  // -1 (or any negative) -> "max"
// cgroup v2 cpu.weight from v1 cpu.shares (the crun/runc formula, shares clamped to 2..262144).
uint64_t shares_to_weight(uint64_t shares);

// File helpers. `path` is a file inside a cgroup directory.
Result<std::string> read_trimmed(const std::string& path);
// cgroup v2 freezer of one directory: writes cgroup.freeze, then waits (bounded) until
// cgroup.events says `frozen` matches.
Result<void> set_frozen_v2(const std::string& dir, bool frozen);
Result<uint64_t> read_u64(const std::string& path);  // "123\n" -> 123
// The value of "key value" lines (cpu.stat, memory.events, memory.oom_control).
Result<uint64_t> read_keyed_u64(const std::string& path, const std::string& key);
std::optional<uint64_t> parse_u64(const std::string& text);

// Pids listed in "<dir>/cgroup.procs" and, with recursive, in every nested cgroup below it
// (bounded by kMaxDepth). ENOENT of the directory itself yields an empty list.
Result<std::vector<pid_t>> read_procs(const std::string& dir, bool recursive);
// Sorted, deduplicated pids of every dir's subtree.
Result<std::vector<pid_t>> read_members(const std::vector<std::string>& dirs);
// Sends SIGKILL to every member of the dirs' subtrees through a pidfd, re-checking after
// pidfd_open that the pid is still a member (so a pid that was reused by an unrelated
// process between the reads is never signalled).
Result<void> kill_members(const std::vector<std::string>& dirs);
// Polls (1 ms sleeps, doubling up to 32 ms) until every dir's subtree lists no pid or the
// deadline passes; the error names the first non-empty path and its pids.
Result<void> wait_empty(const std::vector<std::string>& dirs,
                        std::chrono::steady_clock::time_point deadline);

// Removes `path` and every cgroup below it (children first), retrying EBUSY/ENOTEMPTY a
// bounded number of times. ENOENT counts as success. `before_rmdir` is a test seam for fake
// trees (cgroupfs removes the interface files itself; a plain directory does not).
using DirHook = std::function<void(const std::string& dir)>;
Result<void> remove_tree(const std::string& path, const DirHook& before_rmdir = {});
// Sorted, deduplicated names of valid sandbox directories in each "<parent>".
std::vector<std::string> list_children(const std::vector<std::string>& parents);

// Backends. `root` is the mount point of the hierarchies (/sys/fs/cgroup).
// v1: hierarchies at <root>/<controller>; in v1_hybrid also <root>/unified (cgroup2).
// every_hierarchy: a directory in each mounted v1 hierarchy whatever the limits (tests of
// the freezer and cpuacct paths); by default only the hierarchies a sandbox needs.
std::unique_ptr<CgroupManager> make_v1_manager(const std::string& root, CgroupLayout layout,
                                               bool every_hierarchy = false,
                                               const std::string& parent_name = kParentName);

// Test seams of the v2 backend. A fake v2 tree made of plain directories and files cannot
// make interface files appear on mkdir or disappear on rmdir the way cgroupfs does; these
// hooks let a test do that. Production passes none.
struct V2Hooks {
  DirHook after_mkdir;
  DirHook before_rmdir;
};
std::unique_ptr<CgroupManager> make_v2_manager(const std::string& root, V2Hooks hooks = {},
                                               const std::string& parent_name = kParentName);

}  // namespace clawcage::os::cgroup_internal
