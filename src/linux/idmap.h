// User namespace id maps, written by the privileged parent for the child.
#pragma once

#include <sys/types.h>

#include <vector>

#include "base/result.h"
#include "spec/spec.h"

namespace clawcage::os {

std::string format_id_map(const std::vector<spec::IdMapping>& maps);
Result<void> write_id_maps(pid_t pid, const std::vector<spec::IdMapping>& uid_maps,
                           const std::vector<spec::IdMapping>& gid_maps);
// The host uid that container uid `id` maps to, if any.
std::optional<uint32_t> host_id(const std::vector<spec::IdMapping>& maps, uint32_t id);

}  // namespace clawcage::os
