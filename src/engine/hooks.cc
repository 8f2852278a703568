#include "engine/hooks.h"

#include <nlohmann/json.hpp>

namespace clawcage::engine::detail {

std::vector<os::HookCommand> hook_commands(const std::vector<spec::Hook>& hooks,
                                           const std::string& kind) {
  std::vector<os::HookCommand> out;
  for (size_t i = 0; i < hooks.size(); ++i) {
    os::HookCommand c;
    c.name = "hooks." + kind + "[" + std::to_string(i) + "]";
    c.path = hooks[i].path;
    c.args = hooks[i].args;
    c.env = hooks[i].env;
    c.timeout_s = hooks[i].timeout.value_or(0);
    out.push_back(std::move(c));
  }
  return out;
}

std::string hook_state_json(const std::string& oci_version, const std::string& id,
                            const std::string& status, pid_t pid, const std::string& bundle,
                            const std::map<std::string, std::string>& annotations) {
  nlohmann::json j = {{"ociVersion", oci_version},
                      {"id", id},
                      {"status", status},
                      {"bundle", bundle},
                      {"annotations", annotations}};
  if (pid > 0) j["pid"] = pid;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void run_hooks_warning(const std::vector<spec::Hook>& hooks, const std::string& kind,
                       const std::string& state, std::vector<std::string>& warnings) {
  for (const auto& c : hook_commands(hooks, kind))
    if (auto r = os::run_hook(c, state); !r) warnings.push_back(r.error().message());
}

int hooks_budget_ms(const std::vector<spec::Hook>& hooks, int base_ms) {
  int64_t total = base_ms;
  for (const auto& h : hooks) {
    if (!h.timeout) return -1;
    total += int64_t(*h.timeout) * 1000;
  }
  return total > INT32_MAX ? -1 : static_cast<int>(total);
}

}  // namespace clawcage::engine::detail
