// One sandbox's cgroup, behind one interface with a v1 (hybrid) and a v2 backend.
// A sandbox is its cgroup: kill goes through it, and every directory is named after the
// sandbox id under a "clawcage" parent, so leftovers can be found from cgroupfs alone.
// No code outside src/linux/ branches on the cgroup version.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "spec/spec.h"

namespace clawcage::os {

struct CgroupStats {
  uint64_t cpu_usage_usec = 0;  // user+system CPU time of the whole sandbox
  uint64_t memory_peak_bytes = 0;
  uint64_t memory_current_bytes = 0;
  uint64_t oom_kills = 0;  // OOM-killer kills inside this cgroup since creation
  uint64_t pids_current = 0;
  uint64_t pids_peak = 0;  // 0 when the kernel does not report it
};

class Cgroup {
 public:
  virtual ~Cgroup() = default;  // destroys (kill + bounded rmdir) unless released
  // The sandbox's name (the last path component in every hierarchy).
  virtual const std::string& name() const = 0;
  // fd of a cgroup2 directory usable with clone3(CLONE_INTO_CGROUP), or -1 if none.
  virtual int clone_into_fd() const = 0;
  // Once the sandbox's init is cloned the fd is not needed: a daemon with 10,000 sandboxes
  // must not hold 10,000 of them.
  virtual void close_clone_fd() = 0;
  // Places pid into every hierarchy it is not already in (v1: each controller's
  // cgroup.procs; the unified dir when clone3 did not place it).
  virtual Result<void> add_process(pid_t pid) = 0;
  // Kills every process in the sandbox, double-forked ones included (v2: cgroup.kill,
  // v1: freeze, SIGKILL every member, thaw), then waits (bounded) until it is empty.
  virtual Result<void> kill_all() = 0;
  // kill_all, then rmdir every directory with bounded retries; idempotent.
  virtual Result<void> destroy() = 0;
  virtual Result<CgroupStats> stats() const = 0;
  // Moves a running sandbox to other CPUs (cpuset.cpus); the sandbox must have been created
  // with a cpuset limit (ENOENT naming it otherwise).
  virtual Result<void> set_cpus(const std::string& cpus) = 0;
  // The CPUs it may use now (cpuset.cpus), "" when it has no cpuset of its own.
  virtual std::string cpus() const = 0;
  // True while any process (zombies excluded) is in the cgroup.
  virtual Result<bool> populated() const = 0;
  // Pauses (freezes) or resumes every process of the sandbox, waiting (bounded) until the
  // kernel reports it done: cgroup v2's cgroup.freeze (also the unified dir of a hybrid
  // host), else the v1 freezer. ENOTSUP naming the sandbox when it has neither.
  virtual Result<void> set_frozen(bool frozen) = 0;
  virtual Result<bool> frozen() const = 0;
  // Paths of every directory this cgroup owns (for diagnostics and tests).
  virtual std::vector<std::string> paths() const = 0;
  // After release() the destructor leaves the cgroup alone (a later process owns it).
  virtual void release() = 0;
};

enum class CgroupLayout { v1_hybrid, v1_legacy, v2_unified };

class CgroupManager {
 public:
  virtual ~CgroupManager() = default;
  // Detects the host's layout once (statfs of /sys/fs/cgroup and /sys/fs/cgroup/unified).
  // `root` overrides /sys/fs/cgroup for tests. `parent` names the directory that holds the
  // sandboxes in every hierarchy: "clawcage" for `clawcage run`, the daemon's own name for
  // its tasks, so neither's reconciler ever touches the other's sandboxes.
  static Result<std::unique_ptr<CgroupManager>> detect(const std::string& root = "/sys/fs/cgroup",
                                                       const std::string& parent = "clawcage");
  virtual CgroupLayout layout() const = 0;
  // Creates "<hierarchy>/clawcage/<name>" in every hierarchy and applies the limits.
  // Fails with EEXIST naming the path if a sandbox of that name exists. On failure nothing
  // is left behind.
  virtual Result<std::unique_ptr<Cgroup>> create(const std::string& name,
                                                 const spec::Resources& resources) = 0;
  // Reopens an existing sandbox cgroup by name (for kill/delete from another process).
  // The result does not own the cgroup (as if released): dropping it leaves the sandbox
  // alone; call destroy() to remove it. ENOENT naming the path if no hierarchy has it.
  virtual Result<std::unique_ptr<Cgroup>> open(const std::string& name) = 0;
  // Names of every sandbox cgroup under clawcage/ in any hierarchy (for gc).
  virtual std::vector<std::string> list() const = 0;
  // Removes the "clawcage" parent directories that hold no sandbox. Only when nothing can be
  // creating one at the same time (a create makes the parent, then its own dir below it).
  virtual void remove_empty_parents() = 0;
  // Host-wide figures admission can use later: nothing yet.
};

}  // namespace clawcage::os
