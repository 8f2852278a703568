// Semantic checks of a parsed spec, before anything is created. Errors name the field.
#pragma once

#include "base/result.h"
#include "spec/spec.h"

namespace clawcage::spec {

Result<void> validate_spec(const Spec& spec);
// Kernel names for capabilities and rlimits, shared with the engine.
int capability_number(const std::string& name);  // -1 if unknown
std::vector<std::string> capability_names();     // every name capability_number knows
int rlimit_number(const std::string& name);      // -1 if unknown
// Annotation keys clawcage reads.
inline constexpr const char* kTierAnnotation = "run.clawcage.tier";  // "gvisor": runs under runsc
inline constexpr const char* kRootSwitchAnnotation = "run.clawcage.root-switch";
// "true": a writable root is an overlay whose upper layer lives in the sandbox's state dir,
// so writes never reach root.path (a shared image) and go away with the sandbox.
inline constexpr const char* kRootOverlayAnnotation = "run.clawcage.root-overlay";
// Comma list of "signal", "abstract-unix", and "required" (fail if the kernel lacks it;
// without it the scopes are best effort and a missing one is reported as a warning).
inline constexpr const char* kLandlockAnnotation =
    "run.clawcage.landlock-scope";  // pivot_root|chroot

}  // namespace clawcage::spec
