// Processes through pidfds: clone3 with CLONE_PIDFD, waits and signals on the pidfd, never
// on a bare pid (no pid-reuse races).
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>

#include "base/result.h"
#include "base/unique_fd.h"

namespace clawcage::os {

struct ExitStatus {
  bool signaled = false;
  int code = 0;  // exit code, or the signal number when signaled
  int shell_code() const { return signaled ? 128 + code : code; }
};

class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(pid_t pid, UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}
  ChildProcess(ChildProcess&& o) noexcept
      : pid_(std::exchange(o.pid_, -1)), pidfd_(std::move(o.pidfd_)), reaped_(o.reaped_) {}
  ChildProcess& operator=(ChildProcess&& o) noexcept;
  ~ChildProcess();  // SIGKILL and reap unless already reaped

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }
  bool running() const { return pid_ > 0 && !reaped_; }
  Result<void> signal(int sig) const;
  // Gives up ownership: the process lives on unsupervised (a detached sandbox's init).
  void release() {
    pid_ = -1;
    pidfd_.reset();
  }
  // Waits up to timeout_ms (<0: forever); nullopt on timeout. Reaps on exit.
  Result<std::optional<ExitStatus>> wait(int timeout_ms);

 private:
  void kill_and_reap();
  pid_t pid_ = -1;
  UniqueFd pidfd_;
  bool reaped_ = false;
};

struct CloneOptions {
  uint64_t flags = 0;  // CLONE_NEW* flags
  int cgroup_fd = -1;  // with CLONE_INTO_CGROUP when >= 0
};

// Runs child_main in a new process (fork semantics, no shared memory). child_main's return
// value is the child's exit code; it never returns into the caller. Falls back to
// clone3 without CLONE_INTO_CGROUP when the kernel refuses it: callers place the child in
// its cgroups themselves either way (v1 hierarchies always need it).
Result<ChildProcess> spawn_process(const CloneOptions& options,
                                   const std::function<int()>& child_main);

// For a child subreaper (PR_SET_CHILD_SUBREAPER): reaps every child that has exited or
// exits within timeout_ms; returns how many are still alive after it.
int reap_children(int timeout_ms);

// Reads the start time of a process (field 22 of /proc/PID/stat) for liveness checks.
Result<uint64_t> process_start_time(pid_t pid);
// True if pid runs and is the process that started at start_time. A zombie is not alive:
// an init whose creator exited may wait unreaped under a pid 1 that never reaps.
bool process_alive(pid_t pid, uint64_t start_time);

}  // namespace clawcage::os
