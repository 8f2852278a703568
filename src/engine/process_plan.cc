#include "engine/process_plan.h"

#include "linux/landlock.h"
#include "linux/seccomp_cache.h"
#include "spec/validate.h"

namespace clawcage::engine {

namespace {

// The Landlock scopes the spec asks for, checked against the kernel.
Result<uint64_t> landlock_scopes(const spec::Spec& s, std::vector<std::string>& warnings) {
  auto it = s.annotations.find(spec::kLandlockAnnotation);
  if (it == s.annotations.end() || it->second.empty()) return uint64_t{0};
  uint64_t scopes = 0;
  bool required = false;
  size_t pos = 0;
  const std::string& list = it->second;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    std::string item =
        list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? list.size() + 1 : comma + 1;
    if (item == "signal")
      scopes |= os::kLandlockScopeSignal;
    else if (item == "abstract-unix")
      scopes |= os::kLandlockScopeAbstractUnix;
    else if (item == "required")
      required = true;
    else
      return invalid_field(std::string("annotations.") + spec::kLandlockAnnotation,
                           "unknown scope \"" + item + "\" (signal, abstract-unix, required)");
  }
  int abi = os::landlock_abi();
  if (abi >= 6) return scopes;
  std::string why = "Landlock scoping needs ABI 6 (Linux 6.12); this kernel has " +
                    (abi ? "ABI " + std::to_string(abi) : std::string("no Landlock"));
  if (required) return make_error("apply Landlock scopes", spec::kLandlockAnnotation, why);
  warnings.push_back(why + ": tasks are not kept from signalling processes outside the sandbox");
  return uint64_t{0};
}

}  // namespace

Result<void> plan_process(const spec::Spec& s, os::InitPlan& plan,
                          std::vector<std::string>& warnings) {
  if (s.linux.seccomp) {
    TRY_ASSIGN(auto program, os::compile_seccomp_cached(*s.linux.seccomp));
    plan.seccomp = std::move(program);
  }
  TRY_ASSIGN(plan.capabilities, os::resolve_capabilities(s.process.capabilities));
  TRY_ASSIGN(plan.rlimits, os::resolve_rlimits(s.process.rlimits));
  plan.no_new_privileges = s.process.no_new_privileges;
  TRY_ASSIGN(plan.landlock_scopes, landlock_scopes(s, warnings));
  // Without no_new_privs, Landlock and seccomp load while the process still holds
  // CAP_SYS_ADMIN in its user namespace (contain.cc, confine_early).
  plan.oom_score_adj = s.process.oom_score_adj;
  plan.uid = s.process.user.uid;
  plan.gid = s.process.user.gid;
  plan.additional_gids = s.process.user.additional_gids;
  plan.umask = s.process.user.umask;
  plan.cwd = s.process.cwd;
  plan.args = s.process.args;
  plan.env = s.process.env;
  return ok();
}

}  // namespace clawcage::engine
