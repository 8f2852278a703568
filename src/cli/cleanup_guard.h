// A small process that outlives a SIGKILLed `clawcage run` just long enough to remove its
// sandbox: it waits on a pipe; EOF without the "done" byte means the runner died, and it
// then execs `clawcage gc --reap ID`, which kills and removes the sandbox by name.
#pragma once

#include <sys/types.h>

#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

namespace clawcage::cli {

class CleanupGuard {
 public:
  static Result<CleanupGuard> start(const std::string& sandbox_id);
  CleanupGuard() = default;
  CleanupGuard(CleanupGuard&&) = default;
  CleanupGuard& operator=(CleanupGuard&&) = default;
  // The runner cleaned up itself: the guard exits without touching anything, and is reaped
  // here (it exits at once, so this does not wait).
  void dismiss();
  ~CleanupGuard() { dismiss(); }

 private:
  UniqueFd pipe_;
  pid_t pid_ = -1;
};

}  // namespace clawcage::cli
