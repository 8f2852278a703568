#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "base/files.h"
#include "engine/sandbox.h"

namespace clawcage::engine {

const char* exit_cause_name(ExitCause cause) {
  switch (cause) {
    case ExitCause::exited: return "exited";
    case ExitCause::signaled: return "signaled";
    case ExitCause::oom_killed: return "oom_killed";
    case ExitCause::timeout: return "timeout";
    case ExitCause::killed: return "killed";
    case ExitCause::spawn_failed: return "spawn_failed";
  }
  return "unknown";
}

Result<void> Sandbox::destroy() {
  if (destroyed_) return ok();
  Result<void> result;
  if (cgroup_) {
    // Kill through the cgroup first: the init's death alone leaves double-forked children
    // of a chroot-tier task (no pid namespace) alive.
    result = cgroup_->destroy().context("destroying sandbox " + id_);
  }
  // Reap the init (the ChildProcess destructor SIGKILLs and reaps if still alive).
  init_ = os::ChildProcess();
  channel_.close();
  if (!state_dir_.empty()) {
    std::string state = state_dir_ + "/state.json";
    if (unlink(state.c_str()) != 0 && errno != ENOENT && result.ok())
      result = system_error("unlink", state);
    if (rmdir(state_dir_.c_str()) != 0 && errno != ENOENT && result.ok())
      result = system_error("rmdir", state_dir_);
  }
  destroyed_ = result.ok();
  status_ = Status::stopped;
  return result;
}

Sandbox::~Sandbox() {
  if (!id_.empty()) (void)destroy();
}

}  // namespace clawcage::engine
