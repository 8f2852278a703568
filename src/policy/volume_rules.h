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
};

// Resolves `source` and checks it; returns the resolved path. `field` names the flag or
// request field in errors ("--ro[0]").
Result<std::string> check_volume_source(const std::string& source, const VolumeRules& rules,
                                        const std::string& field);
// Why a resolved path is sensitive, or "" if it is not.
std::string sensitive_reason(const std::string& resolved);

}  // namespace clawcage::policy
