#include <chrono>

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

}  // namespace clawcage::engine
