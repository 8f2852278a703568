// strict tier: container plus no capabilities at all, a seccomp wall against every way to
// make or join namespaces, reach the kernel's key store, bpf, ptrace or change ids after
// start, a read-only rootfs with a private /tmp, mandatory limits, and masked host-wide
// statistics (PSI and friends leak co-tenants' load).
#include <algorithm>

#include "spec/tiers/tier_detail.h"
#include "spec/validate.h"

namespace clawcage::spec {

using namespace tier_detail;

namespace {

constexpr uint64_t kNamespaceCloneFlags = 0x7E020000;  // CLONE_NEW{NS,CGROUP,UTS,IPC,USER,PID,NET}
constexpr unsigned kEperm = 1;
constexpr unsigned kEnosys = 38;

void harden_seccomp(Seccomp& s) {
  auto denied = strict_denied_syscalls();
  denied.push_back("clone");
  denied.push_back("clone3");
  // Drop whatever the profile said about these; strict decides them alone.
  for (auto& rule : s.syscalls)
    std::erase_if(rule.names, [&](const std::string& n) {
      return std::find(denied.begin(), denied.end(), n) != denied.end();
    });
  std::erase_if(s.syscalls, [](const SeccompSyscall& r) { return r.names.empty(); });
  bool default_allows = s.default_action == "SCMP_ACT_ALLOW" || s.default_action == "SCMP_ACT_LOG";
  if (!default_allows) {
    // clone without namespace flags is how fork and threads work.
    s.syscalls.push_back({{"clone"},
                          "SCMP_ACT_ALLOW",
                          std::nullopt,
                          {{0, kNamespaceCloneFlags, 0, "SCMP_CMP_MASKED_EQ"}}});
  }
  // One rule per namespace bit, so the refusal holds whatever the default action is.
  for (uint64_t bit = 1; bit; bit <<= 1) {
    if (!(kNamespaceCloneFlags & bit)) continue;
    s.syscalls.push_back(
        {{"clone"}, "SCMP_ACT_ERRNO", kEperm, {{0, bit, bit, "SCMP_CMP_MASKED_EQ"}}});
  }
  // clone3 passes flags in memory seccomp cannot read: ENOSYS makes libc fall back to clone.
  s.syscalls.push_back({{"clone3"}, "SCMP_ACT_ERRNO", kEnosys, {}});
  s.syscalls.push_back({strict_denied_syscalls(), "SCMP_ACT_ERRNO", kEperm, {}});
}

void ensure_limits(Spec& spec, const TierDefaults& d) {
  auto& r = spec.linux.resources;
  if (!r.memory) r.memory = MemoryResources{};
  if (!r.memory->limit || *r.memory->limit < 0) r.memory->limit = d.memory_bytes;
  if (!r.pids || r.pids->limit <= 0) r.pids = PidsResources{d.pids};
  if (!r.cpu) r.cpu = CpuResources{};
  if (!r.cpu->quota || *r.cpu->quota < 0) {
    r.cpu->quota = d.cpu_quota_us;
    r.cpu->period = d.cpu_period_us;
  }
}

}  // namespace

Result<TierResult> apply_strict_tier(Spec spec, const TierDefaults& defaults) {
  TRY_ASSIGN(TierResult out, apply_container_tier(std::move(spec)));
  Spec& s = out.spec;
  s.process.capabilities = {};
  s.process.no_new_privileges = true;  // whatever a bundle says: strict denies every uid change
  harden_seccomp(*s.linux.seccomp);
  s.root.readonly = true;
  private_tmp(s, defaults.tmp_bytes, /*force=*/true);
  ensure_limits(s, defaults);
  add_unique(s.linux.masked_paths, co_tenant_statistics_paths());
  s.annotations[kTierAnnotation] = "strict";
  s.annotations[kLandlockAnnotation] = "signal,abstract-unix,required";
  out.controls = {"namespaces:user,pid,mount,ipc,uts,network,cgroup",
                  "pivot_root",
                  "capabilities:none",
                  "no_new_privs",
                  "landlock-scope:signal,abstract-unix(required)",
                  "seccomp:default+strict(no namespaces, mount, keyctl, bpf, ptrace, id changes)",
                  "network:none(loopback down)",
                  "rootfs:read-only",
                  "tmp:private-tmpfs",
                  "limits:memory,pids,cpu(mandatory)",
                  "masked-paths(+host statistics)",
                  "readonly-paths",
                  "rlimits",
                  "cgroup-limits"};
  return out;
}

}  // namespace clawcage::spec
