// Which host paths may be mounted into a sandbox. Sources are resolved (symlinks
// followed) before the check, so a link cannot smuggle /etc in under another name.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"

namespace clawcage::policy {

struct VolumeRules {
  // Paths the operator explicitly allows even though they are sensitive (--allow-host-path).
  std::vector<std::string> allowed;
  // From a trust policy (policy/trust_policy.h); empty: no such rule.
  std::vector<std::string> allowlist;  // a source must lie under one of these
  std::vector<std::string> blocked;    // fnmatch patterns refused as any path component
  std::vector<std::string> writable;   // with `read_only_inputs`, rw sources must lie here
  bool read_only_inputs = false;
};

// Resolves `source` and checks it; returns the resolved path. `field` names the flag or
// request field in errors ("--ro[0]"). `writable`: the volume is asked read-write.
Result<std::string> check_volume_source(const std::string& source, const VolumeRules& rules,
                                        const std::string& field, bool writable = false);
// Why a resolved path is sensitive, or "" if it is not.
std::string sensitive_reason(const std::string& resolved);

}  // namespace clawcage::policy
