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
#include <algorithm>

#include "spec/tiers/tier_detail.h"
#include "spec/validate.h"

namespace clawcage::spec {

namespace {

// The cgroup's pids limit counts every host task of the sandbox, runsc's included. Measured
// on the development VM (runsc 20221219, ptrace platform): `runsc run`, its sandbox and
// gofer use about 40-60 tasks before the payload starts, and each payload process costs
// about 6 more (its ptrace stub and the sentry threads that trace it): 64 sleeping
// processes peaked at 351 tasks, 256 at 1606.
constexpr int64_t kRunscBaseTasks = 64;
constexpr int64_t kHostTasksPerProcess = 6;
constexpr int64_t kMinimumPids = kRunscBaseTasks + 4 * kHostTasksPerProcess;

// When the cgroup's pids limit is what stops a fork bomb, the sentry cannot make a thread
// and dies (Go's "failed to create new OS thread", exit 2). RLIMIT_NPROC inside the sentry
// (gVisor enforces it for the sandbox's own processes, which are all its) makes the
// payload's fork fail with EAGAIN first, sized so that its processes fit under the limit.
Result<void> fit_processes_under_pids(Spec& s) {
  int64_t pids = s.linux.resources.pids->limit;
  if (pids < kMinimumPids)
    return invalid_field("linux.resources.pids.limit (--pids)",
                         "tier gvisor needs at least " + std::to_string(kMinimumPids) + " (got " +
                             std::to_string(pids) +
                             "): the limit counts every host task of the sandbox, and runsc "
                             "itself needs up to " +
                             std::to_string(kRunscBaseTasks) + ", each sandbox process about " +
                             std::to_string(kHostTasksPerProcess));
  uint64_t nproc = static_cast<uint64_t>((pids - kRunscBaseTasks) / kHostTasksPerProcess);
  auto it = std::find_if(s.process.rlimits.begin(), s.process.rlimits.end(),
                         [](const Rlimit& r) { return r.type == "RLIMIT_NPROC"; });
  if (it == s.process.rlimits.end()) {
    s.process.rlimits.push_back({"RLIMIT_NPROC", nproc, nproc});
  } else {
    it->soft = std::min(it->soft, nproc);
    it->hard = std::min(it->hard, nproc);
  }
  return ok();
}

}  // namespace

Result<TierResult> apply_gvisor_tier(Spec spec, const TierDefaults& defaults) {
  TRY_ASSIGN(TierResult out, apply_strict_tier(std::move(spec), defaults));
  Spec& s = out.spec;
  TRY(fit_processes_under_pids(s));
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
                  "rlimits(+RLIMIT_NPROC fitted under the pids limit)",
                  "cgroup-limits"};
  return out;
}

}  // namespace clawcage::spec
