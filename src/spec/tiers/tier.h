// A tier is a pure function spec → spec. Each returns the spec it enforced and the list of
// controls it applied, which the task record prints ("controls": [...]).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "spec/spec.h"

namespace clawcage::spec {

// Ordered weakest to strongest: chroot < container < strict < gvisor.
enum class Tier { chroot, container, strict, gvisor };

struct TierResult {
  Spec spec;
  std::vector<std::string> controls;
};

Result<Tier> parse_tier(const std::string& name);
const char* tier_name(Tier tier);
// Strength of a tier, for "stronger/weaker" decisions (trust-policy routing, the runc
// front's floor): chroot 0, container 1, strict 2, gvisor 3.
int tier_strength(Tier tier);
// True when `a` enforces at least what `b` does (a is b or stronger).
bool tier_at_least(Tier a, Tier b);

// Defaults a tier falls back to when the request gives no limit.
struct TierDefaults {
  int64_t memory_bytes = 512ll << 20;
  int64_t pids = 256;
  int64_t cpu_quota_us = 100000;  // one CPU
  uint64_t cpu_period_us = 100000;
  int64_t tmp_bytes = 64ll << 20;
  uint64_t nofile = 1024;
};

Result<TierResult> apply_chroot_tier(Spec spec);
Result<TierResult> apply_container_tier(Spec spec);
Result<TierResult> apply_strict_tier(Spec spec, const TierDefaults& defaults = {});
// strict's spec, run under gVisor's runsc (the engine reads the tier annotation).
Result<TierResult> apply_gvisor_tier(Spec spec, const TierDefaults& defaults = {});
Result<TierResult> apply_tier(Tier tier, Spec spec);

// Shared building blocks (also used by tests).
std::vector<std::string> container_capabilities();
std::vector<std::string> default_masked_paths();
std::vector<std::string> default_readonly_paths();
// Host-wide statistics that leak co-tenants' load (PSI, loadavg, ...): masked in strict.
std::vector<std::string> co_tenant_statistics_paths();
// Syscalls strict refuses whatever the profile says.
std::vector<std::string> strict_denied_syscalls();

}  // namespace clawcage::spec
