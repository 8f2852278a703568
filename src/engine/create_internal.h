// Steps of Sandbox::create that the native and the gvisor paths share. Internal to engine/.
#pragma once

#include <chrono>
#include <string>

#include "base/result.h"
#include "engine/sandbox.h"

namespace clawcage::engine::detail {

using Clock = std::chrono::steady_clock;

inline double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// root.path made absolute (relative to the bundle), resolved, checked to be a directory
// other than the host's /.
Result<std::string> resolve_rootfs(const CreateOptions& options);

}  // namespace clawcage::engine::detail
