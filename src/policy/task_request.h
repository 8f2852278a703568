// A task request, as `clawcage run`/`create` flags or the daemon's JSON give it, and its
// translation into engine::CreateOptions: volumes checked by policy, image, base spec, tier.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "engine/sandbox.h"
#include "policy/trust_policy.h"
#include "spec/spec.h"

namespace clawcage::policy {

inline constexpr const char* kBuiltinImage = "/var/lib/clawcage/images/builtin/rootfs";
inline constexpr const char* kStateRoot = "/run/clawcage";

struct TaskRequest {
  // How errors name a field: "--" for command-line flags, "" for the daemon's JSON keys.
  std::string field_prefix = "--";
  std::string state_root = kStateRoot;
  std::string isolate = "container";
  bool isolate_given = false;
  std::string task;
  std::string rootfs;
  std::string image;         // name:tag or @sha256:... from the image store
  std::string image_digest;  // set by build_create_options: the manifest digest mounted
  std::string store;         // image store directory (empty: the default)
  // The operator's trust policy (tier routing, signatures, volume rules); null: none, so
  // images are not signature-checked and the requested (or default) tier applies.
  const TrustPolicy* trust = nullptr;
  std::optional<TrustDecision> trust_decision;  // set by build_create_options
  std::string bundle;
  std::vector<std::string> ro, rw, env, allow_host_paths;
  // The daemon places outputs under its own data dir, which a client may not name.
  bool output_chosen_by_daemon = false;
  std::string output, scratch, memory, cpus, timeout, kill_grace = "2s", cwd = "/", user, hostname;
  std::optional<int64_t> pids;
  std::optional<int64_t> cpu_shares;
  std::string cpuset_cpus;
  std::string gvisor_platform;  // tier gvisor: runsc --platform (empty: env, else ptrace)
  bool exec_volumes = false;
  bool writable_rootfs = false;
  bool json = false;
  std::string record_file;
  std::vector<std::string> command;
};

// Resolves the flags into create options: volumes checked by policy, a base spec (or the
// bundle's), then the tier. `controls` and `tier` report what the tier applied.
Result<engine::CreateOptions> build_create_options(TaskRequest& request,
                                                   std::vector<std::string>& controls,
                                                   std::string& tier);
// Under `request.trust`: the trust decision for the request's image (checked as at start:
// manifest re-hashed, signatures against its digest) or for a task without one, and the
// tier it asks for. A daemon runs it at submit to refuse early; the start checks again.
Result<TrustDecision> check_trust(TaskRequest& request);
// The decision as the task record and the audit trail keep it (JSON text).
std::string trust_decision_json(const TrustDecision& decision);
// "UID[:GID]" (numbers only; a lone UID is also the GID). Errors name `field`.
Result<std::pair<uint32_t, uint32_t>> parse_uid_gid(const std::string& text,
                                                    const std::string& field);
// A fresh task id: the prefix and 12 random hex digits ("task-1a2b3c4d5e6f").
std::string random_task_id(const std::string& prefix = "task-");
// Creates the per-task output dir (if missing), owned by the sandbox's root, mode 0700.
// Returns whether it was created (so a failed start can remove it).
Result<bool> prepare_output(const std::string& dir, const spec::Spec& spec);

}  // namespace clawcage::policy
