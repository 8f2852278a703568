#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>

#include "base/files.h"
#include "engine/hooks.h"
#include "engine/sandbox.h"
#include "spec/parse.h"

namespace clawcage::engine {

Result<void> Sandbox::start() {
  if (status_ != Status::created)
    return make_error("start", id_, "sandbox is not in state created");
  auto t0 = std::chrono::steady_clock::now();
  TRY(channel_.send(os::SyncMessage::start).context("starting sandbox " + id_));
  // EOF on the CLOEXEC channel means execve succeeded; an error packet means it failed.
  // startContainer hooks run in the init before execve: their timeouts lengthen the wait.
  TRY(channel_.expect_eof(init_.pidfd(), detail::hooks_budget_ms(hooks_.start_container, 30000))
          .context("starting sandbox " + id_));
  channel_.close();
  status_ = Status::running;
  if (!hooks_.poststart.empty())
    detail::run_hooks_warning(
        hooks_.poststart, "poststart",
        detail::hook_state_json(oci_version_, id_, "running", init_.pid(), bundle_, annotations_),
        warnings_);
  times_.start_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return ok();
}

Result<void> start_detached(const std::string& state_root, const std::string& id,
                            std::vector<std::string>* warnings) {
  TRY_ASSIGN(SandboxState st, load_state(state_root, id));
  if (st.status != "created")
    return make_error("start", id, "sandbox is " + st.status + ", not created");
  // The kept config names the startContainer (their timeouts) and poststart hooks.
  spec::Hooks hooks;
  std::string oci_version = "1.0.2";
  std::string config = state_root + "/" + id + "/config.json";
  if (path_exists(config)) {
    TRY_ASSIGN(spec::Spec kept, spec::load_spec_file(config));
    hooks = std::move(kept.hooks);
    oci_version = kept.oci_version;
  }
  int wait_ms = detail::hooks_budget_ms(hooks.start_container, 30000);
  std::string fifo = state_root + "/" + id + "/exec.fifo";
  // Non-blocking: an init that died meanwhile must not hang us; poll its pidfd beside it.
  UniqueFd reader(::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!reader) return system_error("open", fifo);
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, st.pid, 0)));
  if (!pidfd) return system_error("pidfd_open", "sandbox " + id);
  pollfd fds[2] = {{reader.get(), POLLIN, 0}, {pidfd.get(), POLLIN, 0}};
  int n;
  while ((n = poll(fds, 2, wait_ms)) < 0 && errno == EINTR) {
  }
  if (n == 0)
    return make_error(
        "start", id,
        "the sandbox init did not answer within " + std::to_string(wait_ms / 1000) + " s");
  // "0": execve comes next. "E<message>": a startContainer hook failed, the init exits.
  char buf[4096];
  ssize_t got = (fds[0].revents & POLLIN) ? ::read(reader.get(), buf, sizeof buf) : -1;
  if (got <= 0) return make_error("start", id, "the sandbox init exited before start");
  if (buf[0] != '0')
    return make_error(
        "start", id,
        got > 1 ? std::string(buf + 1, static_cast<size_t>(got - 1)) : "the sandbox init failed");
  if (unlink(fifo.c_str()) != 0) return system_error("unlink", fifo);
  if (!hooks.poststart.empty()) {
    std::vector<std::string> failed;
    detail::run_hooks_warning(
        hooks.poststart, "poststart",
        detail::hook_state_json(oci_version, id, "running", st.pid, st.bundle, st.annotations),
        failed);
    if (warnings) warnings->insert(warnings->end(), failed.begin(), failed.end());
  }
  return ok();
}

}  // namespace clawcage::engine
