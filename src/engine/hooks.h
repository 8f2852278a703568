// OCI hooks in the lifecycle (runtime-spec runtime.md, config.md "POSIX-platform Hooks"):
// which run where, with which state, and what their failure means. Internal to engine/.
//   create: prestart, createRuntime (runtime namespaces, by the runtime) and createContainer
//           (container namespaces, by the init) before pivot_root; a failure fails create
//           and destroys the sandbox (poststop hooks included, as delete would).
//   start:  startContainer (by the init, contained, right before execve; a failure stops
//           the sandbox and fails start), then poststart (runtime; failures are warnings).
//   delete: after the sandbox is gone, poststop (runtime; failures are warnings).
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "linux/hooks.h"
#include "spec/spec.h"

namespace clawcage::engine::detail {

// The spec's hooks of one kind as commands, named "hooks.KIND[i]" for messages.
std::vector<os::HookCommand> hook_commands(const std::vector<spec::Hook>& hooks,
                                           const std::string& kind);

// The container's state (runtime.md "State"), compact, as the hooks read it on stdin.
std::string hook_state_json(const std::string& oci_version, const std::string& id,
                            const std::string& status, pid_t pid, const std::string& bundle,
                            const std::map<std::string, std::string>& annotations);

// Runs hooks whose failure is only a warning (poststart, poststop): every hook runs, and
// each failure is appended to warnings.
void run_hooks_warning(const std::vector<spec::Hook>& hooks, const std::string& kind,
                       const std::string& state, std::vector<std::string>& warnings);

// How long a wait spanning these hooks may take beyond `base_ms`; -1 when one of them has
// no timeout (it may run for ever, as the spec allows).
int hooks_budget_ms(const std::vector<spec::Hook>& hooks, int base_ms);

}  // namespace clawcage::engine::detail
