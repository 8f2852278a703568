// Building blocks the tier functions share. Internal to src/spec/tiers.
#pragma once

#include "spec/tiers/tier.h"

namespace clawcage::spec::tier_detail {

void ensure_namespace(Spec& spec, const std::string& type);
void keep_only_namespaces(Spec& spec, const std::vector<std::string>& types);
void ensure_mount(Spec& spec, Mount mount);  // skipped when the destination is taken
void ensure_rlimit(Spec& spec, const std::string& type, uint64_t value);
void add_unique(std::vector<std::string>& list, const std::vector<std::string>& more);
void ensure_id_maps(Spec& spec);
void standard_mounts(Spec& spec, bool with_sys);
// A private tmpfs /tmp: a shared image's world-writable /tmp would carry files between
// tasks. Kept when the spec mounts its own /tmp, replaced when `force`.
void private_tmp(Spec& spec, int64_t bytes, bool force);

}  // namespace clawcage::spec::tier_detail
