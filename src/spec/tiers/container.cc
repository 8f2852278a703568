// container tier: every namespace, pivot_root, a reduced capability set, the default
// seccomp profile, no network (a loopback that is down).
#include <algorithm>

#include "spec/parse.h"
#include "spec/tiers/tier_detail.h"
#include "spec/validate.h"

namespace clawcage::spec {

using namespace tier_detail;

namespace {

// Keeps only capabilities in the allowed set; an empty request gets the reduced set.
// A spec that names them (an OCI bundle, as `runc spec` and Docker write them) may also keep
// CAP_MKNOD, CAP_NET_RAW and CAP_SYS_CHROOT: the sandbox's user namespace is entered last
// and owns none of its other namespaces, so they give nothing there (device nodes need
// CAP_MKNOD in the host's user namespace, raw sockets CAP_NET_RAW in the network
// namespace's owner, the host's), and chroot cannot leave a root that pivot_root made.
void reduce_capabilities(Capabilities& caps) {
  auto allowed = container_capabilities();
  auto reduce = [&](std::vector<std::string>& set) {
    std::erase_if(set, [&](const std::string& c) {
      return std::find(allowed.begin(), allowed.end(), c) == allowed.end();
    });
  };
  bool empty = caps.bounding.empty() && caps.effective.empty() && caps.permitted.empty() &&
               caps.inheritable.empty() && caps.ambient.empty();
  if (empty) {
    caps.bounding = caps.effective = caps.permitted = allowed;
    return;
  }
  for (const char* c : {"CAP_MKNOD", "CAP_NET_RAW", "CAP_SYS_CHROOT"}) allowed.push_back(c);
  reduce(caps.bounding);
  reduce(caps.effective);
  reduce(caps.permitted);
  reduce(caps.inheritable);
  reduce(caps.ambient);
}

}  // namespace

Result<TierResult> apply_container_tier(Spec spec) {
  TierResult out;
  keep_only_namespaces(spec, {"pid", "network", "mount", "ipc", "uts", "user", "cgroup"});
  ensure_id_maps(spec);
  if (spec.hostname.empty()) spec.hostname = "sandbox";
  reduce_capabilities(spec.process.capabilities);
  // no_new_privs is the spec's: every task spec sets it (build_task_spec); a bundle may say
  // `noNewPrivileges: false` (runc's default), and its seccomp and Landlock still load.
  ensure_rlimit(spec, "RLIMIT_NOFILE", TierDefaults{}.nofile);
  if (!spec.linux.seccomp) {
    TRY_ASSIGN(spec.linux.seccomp, default_seccomp_profile());
  }
  standard_mounts(spec, /*with_sys=*/true);
  private_tmp(spec, TierDefaults{}.tmp_bytes, /*force=*/false);
  add_unique(spec.linux.masked_paths, default_masked_paths());
  add_unique(spec.linux.readonly_paths, default_readonly_paths());
  spec.annotations[kRootSwitchAnnotation] = "pivot_root";
  spec.annotations[kTierAnnotation] = "container";
  spec.annotations[kLandlockAnnotation] = "signal,abstract-unix";
  out.controls = {"namespaces:user,pid,mount,ipc,uts,network,cgroup",
                  "pivot_root",
                  "capabilities:reduced",
                  "no_new_privs",
                  "landlock-scope:signal,abstract-unix",
                  "seccomp:default",
                  "network:none(loopback down)",
                  "tmp:private-tmpfs",
                  "masked-paths",
                  "readonly-paths",
                  "rlimits",
                  "cgroup-limits"};
  if (!spec.process.no_new_privileges)
    std::replace(out.controls.begin(), out.controls.end(), std::string("no_new_privs"),
                 std::string("no_new_privs:off(bundle)"));
  out.spec = std::move(spec);
  return out;
}

}  // namespace clawcage::spec
