#include "engine/sandbox.h"

namespace clawcage::engine {

Result<std::optional<os::ExitStatus>> Sandbox::wait(int timeout_ms) {
  TRY_ASSIGN(auto status, init_.wait(timeout_ms));
  if (status) status_ = Status::stopped;
  return status;
}

}  // namespace clawcage::engine
