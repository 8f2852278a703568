#include "linux/landlock.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

namespace clawcage::os {

namespace {

// Debian 12's kernel headers predate the `scoped` field: the ABI 6 layout, spelled out.
struct RulesetAttr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};

constexpr unsigned kCreateRulesetVersion = 1u << 0;

}  // namespace

int landlock_abi() {
  long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, kCreateRulesetVersion);
  return abi < 0 ? 0 : static_cast<int>(abi);
}

Result<void> restrict_landlock_scopes(uint64_t scopes) {
  RulesetAttr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.scoped = scopes;
  long fd = syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
  if (fd < 0) return system_error("landlock_create_ruleset", "scopes");
  long r = syscall(SYS_landlock_restrict_self, fd, 0);
  int saved = errno;
  close(static_cast<int>(fd));
  if (r != 0) return system_error(saved, "landlock_restrict_self", "scopes");
  return ok();
}

}  // namespace clawcage::os
