// The mount plan is data (bubblewrap's lesson): plan_mounts() is pure and unit-tested,
// apply_mount_plan() is the only code that mounts inside a sandbox.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "spec/spec.h"

namespace clawcage::os {

inline constexpr const char* kNoFollowOption = "x-clawcage-nofollow";

// cgroup: a read-only cgroup2 view of the sandbox's own cgroup (its cgroup namespace root);
// "cgroup" (v1) requests get the same view.
enum class MountKind {
  bind,
  proc,
  tmpfs,
  sysfs,
  devpts,
  mqueue,
  cgroup,
  dev_nodes,
  mask,
  readonly
};

struct MountOp {
  MountKind kind = MountKind::bind;
  std::string source;       // host path for bind (opened host-side before clone)
  std::string destination;  // absolute path inside the rootfs
  std::string fstype;
  unsigned long flags = 0;  // MS_* for the mount itself
  unsigned long attrs = 0;  // MOUNT_ATTR_* applied afterwards (ro, nosuid, nodev, noexec)
  std::string data;         // "size=64m,mode=1777"
  bool recursive = false;   // rbind
  // "x-clawcage-nofollow": the source was resolved and checked by policy; opening it
  // refuses any symlink, so a component swapped for a link after the check fails the task
  // instead of mounting something else.
  bool nofollow = false;
  int source_fd = -1;  // O_PATH fd of the bind source, set by open_mount_sources
  std::string field;   // "mounts[3]" for errors
};

struct MountPlan {
  std::vector<MountOp> ops;
  unsigned long propagation = 0;     // MS_PRIVATE | MS_REC by default
  std::vector<UniqueFd> source_fds;  // owners of every MountOp::source_fd
};

// Pure: translates spec.mounts, maskedPaths and readonlyPaths into ordered ops.
Result<MountPlan> plan_mounts(const spec::Spec& spec);
// Host side, before clone: opens every bind source O_PATH so the child mounts exactly the
// inode that was checked, whatever happens to the path afterwards. Errors name the field.
Result<void> open_mount_sources(MountPlan& plan);
// Child side, in its own mount namespace as host root, before pivot_root: makes the rootfs
// a private mount point at `rootfs` and applies every op beneath it. Targets are resolved
// under the rootfs with openat2(RESOLVE_IN_ROOT) so an image symlink cannot point a mount
// at the host.
// `overlay_dir` non-empty: the rootfs becomes an overlay (lower: rootfs; upper/ and work/
// under overlay_dir) before anything is mounted into it.
Result<void> apply_mount_plan(const MountPlan& plan, const std::string& rootfs,
                              const std::string& overlay_dir = "");
// After the switch to the new root: remounts it read-only (spec.root.readonly).
Result<void> make_root_readonly();
// Creates a missing mount point under `rootfs` (directories, or an empty file as the last
// component when `as_file`), resolving every component inside the rootfs, as the native
// tiers' mounts do; used where another runtime (runsc) mounts into the rootfs.
Result<void> ensure_mount_target(const std::string& rootfs, const std::string& path, bool as_file);

}  // namespace clawcage::os
