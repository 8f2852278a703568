#include "linux/rlimits.h"

#include "spec/validate.h"

namespace clawcage::os {

Result<std::vector<ResolvedRlimit>> resolve_rlimits(const std::vector<spec::Rlimit>& limits) {
  std::vector<ResolvedRlimit> out;
  for (size_t i = 0; i < limits.size(); ++i) {
    const auto& l = limits[i];
    std::string field = "process.rlimits[" + std::to_string(i) + "]";
    int res = spec::rlimit_number(l.type);
    if (res < 0) return invalid_field(field + ".type", "unknown rlimit " + l.type);
    rlimit current;
    if (getrlimit(res, &current) != 0) return system_error("getrlimit", l.type);
    if (current.rlim_max != RLIM_INFINITY && l.hard > current.rlim_max)
      return invalid_field(field + ".hard", l.type + " " + std::to_string(l.hard) +
                                                " is above this host's hard limit " +
                                                std::to_string(current.rlim_max) +
                                                " (raising it needs CAP_SYS_RESOURCE)");
    out.push_back({res, {static_cast<rlim_t>(l.soft), static_cast<rlim_t>(l.hard)}});
  }
  return out;
}

Result<void> apply_rlimits(const std::vector<ResolvedRlimit>& limits) {
  for (const auto& l : limits)
    if (setrlimit(l.resource, &l.value) != 0)
      return system_error("setrlimit", std::to_string(l.resource));
  return ok();
}

}  // namespace clawcage::os
