#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>

#include "base/files.h"
#include "engine/sandbox.h"

namespace clawcage::engine {

Result<void> Sandbox::start() {
  if (status_ != Status::created)
    return make_error("start", id_, "sandbox is not in state created");
  auto t0 = std::chrono::steady_clock::now();
  TRY(channel_.send(os::SyncMessage::start).context("starting sandbox " + id_));
  // EOF on the CLOEXEC channel means execve succeeded; an error packet means it failed.
  TRY(channel_.expect_eof(init_.pidfd(), 30000).context("starting sandbox " + id_));
  channel_.close();
  status_ = Status::running;
  times_.start_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return ok();
}

Result<void> start_detached(const std::string& state_root, const std::string& id) {
  TRY_ASSIGN(SandboxState st, load_state(state_root, id));
  if (st.status != "created")
    return make_error("start", id, "sandbox is " + st.status + ", not created");
  std::string fifo = state_root + "/" + id + "/exec.fifo";
  // Non-blocking: an init that died meanwhile must not hang us; poll its pidfd beside it.
  UniqueFd reader(::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!reader) return system_error("open", fifo);
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, st.pid, 0)));
  if (!pidfd) return system_error("pidfd_open", "sandbox " + id);
  pollfd fds[2] = {{reader.get(), POLLIN, 0}, {pidfd.get(), POLLIN, 0}};
  int n;
  while ((n = poll(fds, 2, 30000)) < 0 && errno == EINTR) {
  }
  if (n == 0) return make_error("start", id, "the sandbox init did not answer within 30 s");
  char byte;
  if (!(fds[0].revents & POLLIN) || ::read(reader.get(), &byte, 1) != 1)
    return make_error("start", id, "the sandbox init exited before start");
  if (unlink(fifo.c_str()) != 0) return system_error("unlink", fifo);
  return ok();
}

}  // namespace clawcage::engine
