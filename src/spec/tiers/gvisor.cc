// gvisor tier: strict's spec, run under gVisor's runsc. The payload's syscalls are served by
// the sentry (a kernel in user space) instead of the host's, files are reached through the
// gofer, and every runsc process lives in the sandbox's cgroup (the engine clones runsc
// into it), so its limits, accounting and kill cover the whole sandbox.
//
// What runsc does with strict's fields: the seccomp profile is loaded by the sentry
// (--oci-seccomp), the id maps decide the host owner of files written to volumes, and the
// capabilities, rlimits, no_new_privs, read-only root and mounts hold inside the sentry.
// Landlock scopes and the pivot_root/chroot switch are native-runtime mechanisms: runsc has
// its own (the sentry cannot signal or connect to anything on the host at all), so their
// annotations are dropped rather than claimed.
#include "spec/tiers/tier_detail.h"
#include "spec/validate.h"

namespace clawcage::spec {

Result<TierResult> apply_gvisor_tier(Spec spec, const TierDefaults& defaults) {
  TRY_ASSIGN(TierResult out, apply_strict_tier(std::move(spec), defaults));
  Spec& s = out.spec;
  s.annotations.erase(kLandlockAnnotation);
  s.annotations.erase(kRootSwitchAnnotation);
  s.annotations[kTierAnnotation] = "gvisor";
  out.controls = {"gvisor:runsc sentry (every syscall served by a user-space kernel)",
                  "gvisor:gofer-mediated filesystem",
                  "gvisor:sandbox and gofer in their own pid,mount,ipc,uts,network namespaces",
                  "user-mapping:root to host uid 100000 (files on volumes)",
                  "capabilities:none",
                  "no_new_privs",
                  "seccomp:default+strict, enforced by the sentry (--oci-seccomp)",
                  "network:none (runsc --network none: loopback only)",
                  "rootfs:read-only",
                  "tmp:private-tmpfs",
                  "limits:memory,pids,cpu(mandatory; the cgroup holds every runsc process)",
                  "rlimits",
                  "cgroup-limits"};
  return out;
}

}  // namespace clawcage::spec
