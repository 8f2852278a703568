// The process half of a sandbox's plan, shared by its init and by every exec into it: the
// payload, its user, capabilities, rlimits, no_new_privs, Landlock scopes and seccomp.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "linux/contain.h"
#include "spec/spec.h"

namespace clawcage::engine {

// Fills plan's process fields from the spec; `warnings` gets what this kernel cannot apply.
Result<void> plan_process(const spec::Spec& spec, os::InitPlan& plan,
                          std::vector<std::string>& warnings);

}  // namespace clawcage::engine
