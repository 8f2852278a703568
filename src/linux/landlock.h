// Landlock scoping (ABI 6, Linux 6.12): a sandbox may signal, ptrace and connect to
// abstract unix sockets only within its own Landlock domain. Every task gets its own
// domain, so no task can signal another task or a host process even where they share a
// host uid and pid namespace (the chroot tier).
#pragma once

#include <cstdint>

#include "base/result.h"

namespace clawcage::os {

inline constexpr uint64_t kLandlockScopeAbstractUnix = 1ull << 0;
inline constexpr uint64_t kLandlockScopeSignal = 1ull << 1;

// The kernel's Landlock ABI version, 0 if Landlock is unavailable or disabled.
int landlock_abi();
// Restricts the calling thread (and its future children) to the given scopes. Needs
// no_new_privs (or CAP_SYS_ADMIN). Allocation-free.
Result<void> restrict_landlock_scopes(uint64_t scopes);

}  // namespace clawcage::os
