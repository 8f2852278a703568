// chroot tier: a filesystem wall and resource limits, nothing more. Fast, for trusted
// one-shot file tasks. It shares the host's pid, network, ipc and uts namespaces: a task
// sees host processes in /proc and can reach the network. The README says so.
#include "spec/tiers/tier_detail.h"
#include "spec/validate.h"

namespace clawcage::spec {

using namespace tier_detail;

Result<TierResult> apply_chroot_tier(Spec spec) {
  TierResult out;
  // A user namespace keeps the task's root unprivileged on the host; the mount namespace
  // keeps its mounts private. No other namespace: that is the point of this tier.
  keep_only_namespaces(spec, {"mount", "user"});
  ensure_id_maps(spec);
  spec.hostname.clear();
  // Every capability dropped: with CAP_SYS_CHROOT a task could chroot out of its chroot.
  spec.process.capabilities = {};
  spec.process.no_new_privileges = true;
  ensure_rlimit(spec, "RLIMIT_NOFILE", TierDefaults{}.nofile);
  ensure_mount(spec, {"/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}});
  ensure_mount(spec, {"/dev", "tmpfs", "tmpfs", {"nosuid", "mode=755", "size=65536k"}});
  private_tmp(spec, TierDefaults{}.tmp_bytes, /*force=*/false);
  spec.annotations[kRootSwitchAnnotation] = "chroot";
  spec.annotations[kTierAnnotation] = "chroot";
  // Without a pid namespace the task sees host processes: its own Landlock domain keeps it
  // from signalling or ptracing them, and from host abstract unix sockets.
  spec.annotations[kLandlockAnnotation] = "signal,abstract-unix";
  out.controls = {"namespaces:mount,user",
                  "chroot",
                  "capabilities:none",
                  "no_new_privs",
                  "landlock-scope:signal,abstract-unix",
                  "tmp:private-tmpfs",
                  "rlimits",
                  "cgroup-limits"};
  out.spec = std::move(spec);
  return out;
}

}  // namespace clawcage::spec
