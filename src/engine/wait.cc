#include "engine/sandbox.h"

namespace clawcage::engine {

Result<std::optional<os::ExitStatus>> Sandbox::wait(int timeout_ms) {
  TRY_ASSIGN(auto status, init_.wait(timeout_ms));
  if (!status) return status;
  status_ = Status::stopped;
  // The init was `runsc run`: its exit code carries the payload's signal as 128+N.
  if (runsc_) return std::optional<os::ExitStatus>{os::decode_runsc_exit(*status)};
  return status;
}

}  // namespace clawcage::engine
