#include <signal.h>

#include "engine/sandbox.h"

namespace clawcage::engine {

Result<void> Sandbox::kill(int signal) {
  if (status_ == Status::stopped) return make_error("kill", id_, "sandbox has stopped");
  if (signal == SIGKILL) return cgroup_->kill_all().context("killing sandbox " + id_);
  return init_.signal(signal).context("signalling sandbox " + id_);
}

}  // namespace clawcage::engine
