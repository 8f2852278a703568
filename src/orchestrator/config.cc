#include "orchestrator/config.h"

#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <set>

#include "base/files.h"
#include "linux/runsc.h"
#include "spec/task.h"
#include "spec/tiers/tier.h"

namespace clawcage::orchestrator {

namespace {

using nlohmann::json;

Result<std::string> get_string(const json& v, const std::string& field) {
  if (!v.is_string()) return invalid_field(field, "expected a string");
  return v.get<std::string>();
}

Result<int64_t> get_int(const json& v, const std::string& field, int64_t min) {
  if (!v.is_number_integer()) return invalid_field(field, "expected an integer");
  int64_t n = v.get<int64_t>();
  if (n < min) return invalid_field(field, "must be at least " + std::to_string(min));
  return n;
}

Result<int64_t> get_duration(const json& v, const std::string& field) {
  TRY_ASSIGN(std::string text, get_string(v, field));
  TRY_ASSIGN(int64_t ms, spec::parse_duration_ms(text, field));
  if (ms <= 0) return invalid_field(field, "must be positive");
  return ms;
}

Result<VolumeConfig> parse_volume(const json& v, const std::string& field) {
  if (!v.is_object()) return invalid_field(field, "expected an object");
  VolumeConfig out;
  for (const auto& [key, value] : v.items()) {
    std::string f = field + "." + key;
    if (key == "name") {
      TRY_ASSIGN(out.name, get_string(value, f));
    } else if (key == "path") {
      TRY_ASSIGN(out.path, get_string(value, f));
    } else if (key == "shared") {
      if (!value.is_boolean()) return invalid_field(f, "expected true or false");
      out.shared = value.get<bool>();
    } else if (key == "agent") {
      TRY_ASSIGN(out.agent, get_string(value, f));
    } else {
      return invalid_field(f, "unknown field");
    }
  }
  if (out.name.empty()) return invalid_field(field + ".name", "required");
  if (out.path.empty() || out.path[0] != '/')
    return invalid_field(field + ".path", "an absolute host path is required");
  if (out.shared && !out.agent.empty())
    return invalid_field(field + ".agent", "a shared volume belongs to no agent");
  return out;
}

}  // namespace

Result<DaemonConfig> parse_config(const std::string& text) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    return make_error("parse", "daemon config", std::string("not valid JSON: ") + e.what());
  }
  if (!doc.is_object()) return invalid_field("daemon config", "expected a JSON object");
  DaemonConfig c;
  for (const auto& [key, v] : doc.items()) {
    if (key == "socket") {
      TRY_ASSIGN(c.socket, get_string(v, key));
    } else if (key == "data_dir") {
      TRY_ASSIGN(c.data_dir, get_string(v, key));
    } else if (key == "run_dir") {
      TRY_ASSIGN(c.run_dir, get_string(v, key));
    } else if (key == "cgroup_parent") {
      TRY_ASSIGN(c.cgroup_parent, get_string(v, key));
    } else if (key == "image_store") {
      TRY_ASSIGN(c.image_store, get_string(v, key));
    } else if (key == "trust_policy") {
      TRY_ASSIGN(c.trust_policy, get_string(v, key));
    } else if (key == "default_tier") {
      TRY_ASSIGN(c.default_tier, get_string(v, key));
      TRY(spec::parse_tier(c.default_tier).context("in default_tier"));
    } else if (key == "gvisor_platform") {
      TRY_ASSIGN(c.gvisor_platform, get_string(v, key));
      TRY(os::resolve_gvisor_platform(c.gvisor_platform).context("in gvisor_platform"));
    } else if (key == "default_deadline") {
      TRY_ASSIGN(c.default_deadline_ms, get_duration(v, key));
    } else if (key == "max_deadline") {
      TRY_ASSIGN(c.max_deadline_ms, get_duration(v, key));
    } else if (key == "kill_grace") {
      TRY_ASSIGN(c.kill_grace_ms, get_duration(v, key));
    } else if (key == "default_memory") {
      TRY_ASSIGN(c.default_memory, get_string(v, key));
      TRY(spec::parse_size(c.default_memory, key));
    } else if (key == "default_pids") {
      TRY_ASSIGN(c.default_pids, get_int(v, key, 1));
    } else if (key == "max_queued") {
      TRY_ASSIGN(int64_t n, get_int(v, key, 1));
      c.max_queued = static_cast<size_t>(n);
    } else if (key == "max_running") {
      TRY_ASSIGN(int64_t n, get_int(v, key, 0));
      c.max_running = static_cast<size_t>(n);
    } else if (key == "max_running_per_agent") {
      TRY_ASSIGN(int64_t n, get_int(v, key, 0));
      c.max_running_per_agent = static_cast<size_t>(n);
    } else if (key == "log_cap") {
      TRY_ASSIGN(std::string s, get_string(v, key));
      TRY_ASSIGN(int64_t n, spec::parse_size(s, key));
      c.log_cap_bytes = static_cast<uint64_t>(n);
    } else if (key == "memory_overcommit") {
      if (!v.is_number() || v.get<double>() <= 0)
        return invalid_field(key, "expected a positive number");
      c.memory_overcommit = v.get<double>();
    } else if (key == "memory_reserve") {
      TRY_ASSIGN(std::string s, get_string(v, key));
      TRY_ASSIGN(int64_t n, spec::parse_size(s, key));
      c.memory_reserve_bytes = static_cast<uint64_t>(n);
    } else if (key == "pid_reserve") {
      TRY_ASSIGN(int64_t n, get_int(v, key, 0));
      c.pid_reserve = static_cast<uint64_t>(n);
    } else if (key == "fd_reserve") {
      TRY_ASSIGN(int64_t n, get_int(v, key, 16));
      c.fd_reserve = static_cast<uint64_t>(n);
    } else if (key == "reconcile_interval") {
      TRY_ASSIGN(c.reconcile_interval_ms, get_duration(v, key));
    } else if (key == "spawn_batch") {
      TRY_ASSIGN(int64_t n, get_int(v, key, 1));
      c.spawn_batch = static_cast<size_t>(n);
    } else if (key == "journal_sync") {
      TRY_ASSIGN(std::string s, get_string(v, key));
      if (s == "full")
        c.journal_sync = Journal::Sync::full;
      else if (s == "normal")
        c.journal_sync = Journal::Sync::normal;
      else
        return invalid_field(key, "expected \"full\" or \"normal\"");
    } else if (key == "cpu_pinning") {
      if (!v.is_boolean()) return invalid_field(key, "expected true or false");
      c.cpu_pinning = v.get<bool>();
    } else if (key == "cpu_pool") {
      TRY_ASSIGN(c.cpu_pool, get_string(v, key));
    } else if (key == "min_shared_cpus") {
      TRY_ASSIGN(c.min_shared_cpus, get_int(v, key, 1));
    } else if (key == "audit_log") {
      TRY_ASSIGN(c.audit_log, get_string(v, key));
    } else if (key == "audit_rotate") {
      TRY_ASSIGN(std::string s, get_string(v, key));
      TRY_ASSIGN(int64_t n, spec::parse_size(s, key));
      c.audit_rotate_bytes = static_cast<uint64_t>(n);
    } else if (key == "audit_keep") {
      TRY_ASSIGN(c.audit_keep, get_int(v, key, 1));
    } else if (key == "metrics_listen") {
      TRY_ASSIGN(c.metrics_listen, get_string(v, key));
    } else if (key == "metrics_agent_cap") {
      TRY_ASSIGN(c.metrics_agent_cap, get_int(v, key, 1));
    } else if (key == "volumes") {
      if (!v.is_array()) return invalid_field(key, "expected an array");
      for (size_t i = 0; i < v.size(); ++i) {
        TRY_ASSIGN(VolumeConfig vol, parse_volume(v[i], "volumes[" + std::to_string(i) + "]"));
        c.volumes.push_back(std::move(vol));
      }
    } else {
      return invalid_field(key, "unknown field");
    }
  }
  if (c.default_deadline_ms > c.max_deadline_ms)
    return invalid_field("default_deadline", "exceeds max_deadline");
  for (const auto* p : {&c.socket, &c.data_dir, &c.run_dir})
    if (p->empty() || (*p)[0] != '/')
      return invalid_field("daemon config", "paths must be absolute");
  return c;
}

Result<DaemonConfig> load_config(const std::string& path) {
  TRY_ASSIGN(std::string text, read_file(path));
  return parse_config(text).context("reading " + path);
}

Result<void> check_config(const DaemonConfig& c) {
  std::set<std::string> names;
  for (size_t i = 0; i < c.volumes.size(); ++i) {
    const auto& v = c.volumes[i];
    std::string field = "volumes[" + std::to_string(i) + "]";
    if (!names.insert(v.name).second)
      return invalid_field(field + ".name", "\"" + v.name + "\" is defined twice");
    struct stat st;
    if (stat(v.path.c_str(), &st) != 0) return system_error("stat", field + ".path " + v.path);
    if (!S_ISDIR(st.st_mode)) return invalid_field(field + ".path", v.path + " is not a directory");
  }
  return ok();
}

}  // namespace clawcage::orchestrator
