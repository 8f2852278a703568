#include "linux/capabilities.h"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/files.h"
#include "spec/validate.h"

namespace clawcage::os {

namespace {

Result<uint64_t> mask_of(const std::vector<std::string>& names) {
  uint64_t mask = 0;
  for (const auto& n : names) {
    int c = spec::capability_number(n);
    if (c < 0) return invalid_field("process.capabilities", "unknown capability " + n);
    if (c <= last_capability()) mask |= uint64_t(1) << c;  // newer than the kernel: skip
  }
  return mask;
}

}  // namespace

int last_capability() {
  static int last = [] {
    auto r = read_file("/proc/sys/kernel/cap_last_cap");
    return r ? std::stoi(r.value()) : 40;
  }();
  return last;
}

Result<CapabilitySets> resolve_capabilities(const spec::Capabilities& caps) {
  CapabilitySets s;
  TRY_ASSIGN(s.bounding, mask_of(caps.bounding));
  TRY_ASSIGN(s.effective, mask_of(caps.effective));
  TRY_ASSIGN(s.inheritable, mask_of(caps.inheritable));
  TRY_ASSIGN(s.permitted, mask_of(caps.permitted));
  TRY_ASSIGN(s.ambient, mask_of(caps.ambient));
  // The kernel raises an ambient capability only if it is permitted and inheritable; specs
  // (crun's and runc's defaults among them) often list it as ambient alone.
  s.inheritable |= s.ambient & s.permitted;
  return s;
}

Result<void> drop_bounding_set(const CapabilitySets& sets) {
  for (int c = 0; c <= last_capability(); ++c) {
    if (sets.bounding & (uint64_t(1) << c)) continue;
    if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL)
      return system_error("drop capability from bounding set", std::to_string(c));
  }
  return ok();
}

Result<void> apply_capability_sets(const CapabilitySets& sets) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  data[0].effective = static_cast<uint32_t>(sets.effective);
  data[1].effective = static_cast<uint32_t>(sets.effective >> 32);
  data[0].permitted = static_cast<uint32_t>(sets.permitted);
  data[1].permitted = static_cast<uint32_t>(sets.permitted >> 32);
  data[0].inheritable = static_cast<uint32_t>(sets.inheritable);
  data[1].inheritable = static_cast<uint32_t>(sets.inheritable >> 32);
  if (syscall(SYS_capset, &header, data) != 0)
    return system_error("capset", "process capabilities");
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
    return system_error("prctl", "clear ambient capabilities");
  for (int c = 0; c <= last_capability(); ++c) {
    if (!(sets.ambient & (uint64_t(1) << c))) continue;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) != 0)
      return system_error("raise ambient capability", std::to_string(c));
  }
  return ok();
}

}  // namespace clawcage::os
