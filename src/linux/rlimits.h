// rlimits: resolved and checked against the host's hard limits in the parent (this host has
// no CAP_SYS_RESOURCE, so a hard limit can never be raised), applied in the child.
#pragma once

#include <sys/resource.h>

#include <vector>

#include "base/result.h"
#include "spec/spec.h"

namespace clawcage::os {

struct ResolvedRlimit {
  int resource = 0;
  rlimit value{};
};

Result<std::vector<ResolvedRlimit>> resolve_rlimits(const std::vector<spec::Rlimit>& limits);
Result<void> apply_rlimits(const std::vector<ResolvedRlimit>& limits);

}  // namespace clawcage::os
