#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine/sandbox.h"

namespace clawcage::engine {

Result<void> Sandbox::kill(int signal) {
  if (status_ == Status::stopped) return make_error("kill", id_, "sandbox has stopped");
  if (signal == SIGKILL) return cgroup_->kill_all().context("killing sandbox " + id_);
  // A signal to `runsc run` is not forwarded to the payload (runsc dies of it and its
  // sandbox with it): runsc's own kill delivers it inside the sandbox.
  if (runsc_ && status_ == Status::running)
    return os::runsc_signal(runsc_->binary, state_dir_ + "/runsc", id_, signal)
        .context("signalling sandbox " + id_);
  return init_.signal(signal).context("signalling sandbox " + id_);
}

Result<void> kill_detached(os::CgroupManager& cgroups, const std::string& state_root,
                           const std::string& id, int signal) {
  TRY_ASSIGN(SandboxState st, load_state(state_root, id));
  if (st.status == "stopped") return make_error("kill", id, "sandbox is not running");
  if (signal == SIGKILL) {
    TRY_ASSIGN(auto cg, cgroups.open(id));
    return cg->kill_all().context("killing sandbox " + id);
  }
  if (st.pid <= 0) return make_error("kill", id, "sandbox has no init yet");
  // pidfd first, then the start time again: the pid cannot be reused between the check and
  // the signal.
  int fd = static_cast<int>(syscall(SYS_pidfd_open, st.pid, 0));
  if (fd < 0) return system_error("pidfd_open", "sandbox " + id);
  UniqueFd pidfd(fd);
  TRY_ASSIGN(SandboxState again, load_state(state_root, id));
  if (again.pid != st.pid) return make_error("kill", id, "sandbox is not running");
  if (syscall(SYS_pidfd_send_signal, pidfd.get(), signal, nullptr, 0) != 0)
    return system_error("pidfd_send_signal", "sandbox " + id);
  return ok();
}

}  // namespace clawcage::engine
