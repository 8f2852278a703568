// Capabilities, all five sets, as numbers resolved in the parent.
#pragma once

#include <cstdint>

#include "base/result.h"
#include "spec/spec.h"

namespace clawcage::os {

struct CapabilitySets {
  uint64_t bounding = 0, effective = 0, inheritable = 0, permitted = 0, ambient = 0;
};

Result<CapabilitySets> resolve_capabilities(const spec::Capabilities& caps);
// Drops every capability outside the bounding set (needs CAP_SETPCAP, so call it while the
// process still has it).
Result<void> drop_bounding_set(const CapabilitySets& sets);
// Sets effective, permitted and inheritable, then raises the ambient ones.
Result<void> apply_capability_sets(const CapabilitySets& sets);
int last_capability();

}  // namespace clawcage::os
