#include "orchestrator/task.h"

#include <cstdio>

#include <time.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>

#include "engine/sandbox.h"
#include "spec/task.h"
#include "spec/tiers/tier.h"

namespace clawcage::orchestrator {

namespace {

using nlohmann::json;

constexpr size_t kMaxAgentBytes = 128;

// Never throws: bytes that are not UTF-8 (only possible in a request built in code, the
// parser refuses them) are replaced.
std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string index_field(const std::string& field, size_t i) {
  return field + "[" + std::to_string(i) + "]";
}

Result<std::string> get_string(const json& v, const std::string& field) {
  if (!v.is_string()) return invalid_field(field, "expected a string");
  return v.get<std::string>();
}

Result<std::vector<std::string>> get_strings(const json& v, const std::string& field) {
  if (!v.is_array()) return invalid_field(field, "expected an array of strings");
  std::vector<std::string> out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    TRY_ASSIGN(std::string s, get_string(v[i], index_field(field, i)));
    out.push_back(std::move(s));
  }
  return out;
}

Result<int64_t> get_positive_integer(const json& v, const std::string& field) {
  if (!v.is_number_integer()) return invalid_field(field, "expected an integer");
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return invalid_field(field, "out of range: " + std::to_string(u));
    if (u == 0) return invalid_field(field, "must be positive, got 0");
    return static_cast<int64_t>(u);
  }
  int64_t n = v.get<int64_t>();
  if (n <= 0) return invalid_field(field, "must be positive, got " + std::to_string(n));
  return n;
}

Result<bool> get_bool(const json& v, const std::string& field) {
  if (!v.is_boolean()) return invalid_field(field, "expected true or false");
  return v.get<bool>();
}

Result<std::string> get_size(const json& v, const std::string& field) {
  TRY_ASSIGN(std::string s, get_string(v, field));
  TRY(spec::parse_size(s, field));
  return s;
}

// A positive decimal number of CPUs, given as a string ("0.5") or a number (0.5).
Result<std::string> get_cpus(const json& v) {
  std::string s;
  if (v.is_string())
    s = v.get<std::string>();
  else if (v.is_number())
    s = v.dump();
  else
    return invalid_field("cpus", "expected a string or a number");
  bool chars_ok = !s.empty() && (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '.');
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c)) && c != '.' && c != 'e' && c != 'E' &&
        c != '+' && c != '-')
      chars_ok = false;
  char* end = nullptr;
  double d = chars_ok ? std::strtod(s.c_str(), &end) : 0;
  if (!chars_ok || end == s.c_str() || *end != '\0' || !std::isfinite(d) || d <= 0)
    return invalid_field("cpus", "expected a positive number of CPUs, got \"" + s + "\"");
  return s;
}

Result<std::string> get_agent(const json& v) {
  TRY_ASSIGN(std::string a, get_string(v, "agent"));
  if (a.empty() || a.size() > kMaxAgentBytes)
    return invalid_field("agent", "must be 1 to " + std::to_string(kMaxAgentBytes) + " bytes");
  for (unsigned char c : a)
    if (c < 0x20 || c == 0x7f) return invalid_field("agent", "must not hold control characters");
  return a;
}

Result<RestartPolicy> get_restart(const json& v) {
  if (!v.is_object()) return invalid_field("restart", "expected an object");
  RestartPolicy p;
  for (const auto& [key, value] : v.items()) {
    std::string field = "restart." + key;
    if (key == "policy") {
      TRY_ASSIGN(p.policy, get_string(value, field));
      if (p.policy != "no" && p.policy != "on-failure" && p.policy != "always")
        return invalid_field(field, "expected \"no\", \"on-failure\" or \"always\"");
    } else if (key == "max_restarts") {
      if (!value.is_number_integer() || value.get<int64_t>() < 0)
        return invalid_field(field, "expected a count (0: no limit)");
      p.max_restarts = value.get<int64_t>();
    } else if (key == "backoff" || key == "max_backoff") {
      TRY_ASSIGN(std::string text, get_string(value, field));
      TRY_ASSIGN(int64_t ms, spec::parse_duration_ms(text, field));
      if (ms <= 0) return invalid_field(field, "must be positive");
      (key == "backoff" ? p.backoff_ms : p.max_backoff_ms) = ms;
    } else {
      return invalid_field(field, "unknown field");
    }
  }
  if (p.backoff_ms > p.max_backoff_ms)
    return invalid_field("restart.backoff", "exceeds restart.max_backoff");
  return p;
}

Result<HealthCheck> get_health(const json& v) {
  if (!v.is_object()) return invalid_field("health", "expected an object");
  HealthCheck h;
  for (const auto& [key, value] : v.items()) {
    std::string field = "health." + key;
    if (key == "command") {
      TRY_ASSIGN(h.command, get_strings(value, field));
    } else if (key == "retries") {
      TRY_ASSIGN(h.retries, get_positive_integer(value, field));
    } else if (key == "interval" || key == "timeout" || key == "start_period") {
      TRY_ASSIGN(std::string text, get_string(value, field));
      TRY_ASSIGN(int64_t ms, spec::parse_duration_ms(text, field));
      if (ms <= 0) return invalid_field(field, "must be positive");
      (key == "interval"  ? h.interval_ms
       : key == "timeout" ? h.timeout_ms
                          : h.start_period_ms) = ms;
    } else {
      return invalid_field(field, "unknown field");
    }
  }
  if (h.command.empty() || h.command[0].empty())
    return invalid_field("health.command", "required: the command to run inside the sandbox");
  return h;
}

Result<VolumeRef> get_volume(const json& v, const std::string& field) {
  if (!v.is_object()) return invalid_field(field, "expected an object {name, target, mode}");
  VolumeRef ref;
  bool has_name = false, has_target = false;
  for (const auto& [key, value] : v.items()) {
    std::string f = field + "." + key;
    if (key == "name") {
      TRY_ASSIGN(ref.name, get_string(value, f));
      if (ref.name.empty()) return invalid_field(f, "must not be empty");
      has_name = true;
    } else if (key == "target") {
      TRY_ASSIGN(ref.target, get_string(value, f));
      if (ref.target.empty() || ref.target.front() != '/')
        return invalid_field(f, "expected an absolute path");
      has_target = true;
    } else if (key == "mode") {
      if (!value.is_string() || (value != "ro" && value != "rw"))
        return invalid_field(f, "expected \"ro\" or \"rw\"");
      ref.readonly = value == "ro";
    } else {
      return invalid_field(f, "unknown field");
    }
  }
  if (!has_name) return invalid_field(field + ".name", "required");
  if (!has_target) return invalid_field(field + ".target", "required");
  return ref;
}

Result<void> set_field(TaskRequest& r, const std::string& key, const json& v, bool& has_command) {
  if (key == "id") {
    TRY_ASSIGN(r.id, get_string(v, "id"));
    auto checked = engine::check_sandbox_id(r.id);
    if (!checked) {
      Error e = std::move(checked).error();
      e.subject = "id";
      return e;
    }
  } else if (key == "agent") {
    TRY_ASSIGN(r.agent, get_agent(v));
  } else if (key == "image") {
    TRY_ASSIGN(r.image, get_string(v, "image"));
    if (r.image.empty()) return invalid_field("image", "must not be empty");
  } else if (key == "rootfs") {
    TRY_ASSIGN(r.rootfs, get_string(v, "rootfs"));
    if (r.rootfs.empty()) return invalid_field("rootfs", "must not be empty");
  } else if (key == "command") {
    TRY_ASSIGN(r.command, get_strings(v, "command"));
    if (r.command.empty()) return invalid_field("command", "must not be empty");
    has_command = true;
  } else if (key == "tier") {
    TRY_ASSIGN(r.tier, get_string(v, "tier"));
    auto tier = spec::parse_tier(r.tier);
    if (!tier) {
      Error e = std::move(tier).error();
      e.subject = "tier";
      return e;
    }
  } else if (key == "env") {
    TRY_ASSIGN(r.env, get_strings(v, "env"));
    for (size_t i = 0; i < r.env.size(); ++i) {
      size_t eq = r.env[i].find('=');
      if (eq == std::string::npos || eq == 0)
        return invalid_field(index_field("env", i),
                             "expected NAME=VALUE, got \"" + r.env[i] + "\"");
    }
  } else if (key == "volumes") {
    if (!v.is_array()) return invalid_field("volumes", "expected an array of objects");
    for (size_t i = 0; i < v.size(); ++i) {
      TRY_ASSIGN(VolumeRef ref, get_volume(v[i], index_field("volumes", i)));
      r.volumes.push_back(std::move(ref));
    }
  } else if (key == "output") {
    TRY_ASSIGN(r.output, get_bool(v, "output"));
  } else if (key == "scratch") {
    TRY_ASSIGN(r.scratch, get_size(v, "scratch"));
  } else if (key == "memory") {
    TRY_ASSIGN(r.memory, get_size(v, "memory"));
  } else if (key == "pids") {
    TRY_ASSIGN(r.pids, get_positive_integer(v, "pids"));
  } else if (key == "cpus") {
    TRY_ASSIGN(r.cpus, get_cpus(v));
  } else if (key == "cpu_shares") {
    TRY_ASSIGN(r.cpu_shares, get_positive_integer(v, "cpu_shares"));
  } else if (key == "restart") {
    TRY_ASSIGN(r.restart, get_restart(v));
  } else if (key == "health") {
    TRY_ASSIGN(r.health, get_health(v));
  } else if (key == "exclusive_cpus") {
    TRY_ASSIGN(r.exclusive_cpus, get_positive_integer(v, "exclusive_cpus"));
  } else if (key == "cwd") {
    TRY_ASSIGN(r.cwd, get_string(v, "cwd"));
  } else if (key == "user") {
    TRY_ASSIGN(r.user, get_string(v, "user"));
    unsigned uid = 0, gid = 0;
    char extra = 0;
    int n = sscanf(r.user.c_str(), "%u:%u%c", &uid, &gid, &extra);
    bool digits = !r.user.empty() && r.user.find_first_not_of("0123456789:") == std::string::npos;
    if (!digits || (n != 1 && n != 2))
      return invalid_field(
          "user", "expected UID[:GID] (numbers; names are not resolved), got \"" + r.user + "\"");
  } else if (key == "hostname") {
    TRY_ASSIGN(r.hostname, get_string(v, "hostname"));
  } else if (key == "deadline") {
    TRY_ASSIGN(std::string text, get_string(v, "deadline"));
    TRY_ASSIGN(r.deadline_ms, spec::parse_duration_ms(text, "deadline"));
    if (r.deadline_ms <= 0) return invalid_field("deadline", "must be positive");
  } else if (key == "stdin") {
    TRY_ASSIGN(r.stdin_data, get_string(v, "stdin"));
  } else if (key == "stdin_open") {
    TRY_ASSIGN(r.stdin_open, get_bool(v, "stdin_open"));
  } else {
    return invalid_field(key, "unknown field");
  }
  return ok();
}

json result_object(const TaskResult& r) {
  return json{{"cause", r.cause},
              {"exit_code", r.exit_code},
              {"signal", r.signal},
              {"killed_by", r.killed_by},
              {"error", r.error},
              {"wall_ms", r.wall_ms},
              {"cpu_usec", r.cpu_usec},
              {"memory_peak_bytes", r.memory_peak_bytes},
              {"oom_kills", r.oom_kills},
              {"stdout_bytes", r.stdout_bytes},
              {"stderr_bytes", r.stderr_bytes},
              {"stdout_truncated", r.stdout_truncated},
              {"stderr_truncated", r.stderr_truncated},
              {"cleanup_error", r.cleanup_error}};
}

Result<int> get_int(const json& v, const std::string& field) {
  if (!v.is_number_integer()) return invalid_field(field, "expected an integer");
  if (v.is_number_unsigned() ? v.get<uint64_t>() > uint64_t{std::numeric_limits<int>::max()}
                             : (v.get<int64_t>() < std::numeric_limits<int>::min() ||
                                v.get<int64_t>() > std::numeric_limits<int>::max()))
    return invalid_field(field, "out of range");
  return v.get<int>();
}

Result<uint64_t> get_unsigned(const json& v, const std::string& field) {
  if (!v.is_number_unsigned()) return invalid_field(field, "expected a non-negative integer");
  return v.get<uint64_t>();
}

}  // namespace

const char* state_name(TaskState state) {
  switch (state) {
    case TaskState::queued:
      return "queued";
    case TaskState::admitted:
      return "admitted";
    case TaskState::created:
      return "created";
    case TaskState::started:
      return "started";
    case TaskState::exited:
      return "exited";
    case TaskState::reaped:
      return "reaped";
  }
  return "unknown";
}

std::optional<TaskState> parse_state(const std::string& name) {
  for (TaskState s : {TaskState::queued, TaskState::admitted, TaskState::created,
                      TaskState::started, TaskState::exited, TaskState::reaped})
    if (name == state_name(s)) return s;
  return std::nullopt;
}

Result<TaskRequest> parse_task_request(const std::string& body) {
  json doc;
  try {
    doc = json::parse(body);
  } catch (const json::exception& e) {
    return invalid_field("request body", std::string("not valid JSON: ") + e.what());
  }
  if (!doc.is_object()) return invalid_field("request body", "expected a JSON object");
  TaskRequest r;
  r.agent = "default";
  bool has_command = false;
  try {
    for (const auto& [key, value] : doc.items()) TRY(set_field(r, key, value, has_command));
  } catch (const json::exception& e) {
    // Every access is type-checked first; this is the last net.
    return invalid_field("request body", e.what());
  }
  if (!has_command && r.image.empty())
    return invalid_field("command", "required (with an image, its Entrypoint and Cmd apply)");
  if (!r.image.empty() && !r.rootfs.empty())
    return invalid_field("rootfs", "give either image or rootfs, not both");
  return r;
}

std::string request_to_json(const TaskRequest& r) {
  // json objects keep their keys sorted: the same request always gives the same text.
  json j = json::object();
  if (!r.id.empty()) j["id"] = r.id;
  if (!r.agent.empty()) j["agent"] = r.agent;
  if (!r.image.empty()) j["image"] = r.image;
  if (!r.rootfs.empty()) j["rootfs"] = r.rootfs;
  if (!r.command.empty()) j["command"] = r.command;
  if (!r.tier.empty()) j["tier"] = r.tier;
  if (!r.env.empty()) j["env"] = r.env;
  if (!r.volumes.empty()) {
    json vols = json::array();
    for (const auto& v : r.volumes)
      vols.push_back({{"name", v.name}, {"target", v.target}, {"mode", v.readonly ? "ro" : "rw"}});
    j["volumes"] = std::move(vols);
  }
  if (!r.output) j["output"] = false;
  if (!r.scratch.empty()) j["scratch"] = r.scratch;
  if (!r.memory.empty()) j["memory"] = r.memory;
  if (r.pids) j["pids"] = *r.pids;
  if (!r.cpus.empty()) j["cpus"] = r.cpus;
  if (r.cpu_shares) j["cpu_shares"] = *r.cpu_shares;
  if (!r.cwd.empty()) j["cwd"] = r.cwd;
  if (!r.user.empty()) j["user"] = r.user;
  if (!r.hostname.empty()) j["hostname"] = r.hostname;
  if (r.deadline_ms > 0) j["deadline"] = std::to_string(r.deadline_ms) + "ms";
  if (!r.stdin_data.empty()) j["stdin"] = r.stdin_data;
  if (r.stdin_open) j["stdin_open"] = true;
  if (r.exclusive_cpus) j["exclusive_cpus"] = r.exclusive_cpus;
  if (r.restart.policy != "no")
    j["restart"] = {{"policy", r.restart.policy},
                    {"max_restarts", r.restart.max_restarts},
                    {"backoff", std::to_string(r.restart.backoff_ms) + "ms"},
                    {"max_backoff", std::to_string(r.restart.max_backoff_ms) + "ms"}};
  if (r.health)
    j["health"] = {{"command", r.health->command},
                   {"interval", std::to_string(r.health->interval_ms) + "ms"},
                   {"timeout", std::to_string(r.health->timeout_ms) + "ms"},
                   {"retries", r.health->retries}};
  if (r.health && r.health->start_period_ms)
    j["health"]["start_period"] = std::to_string(r.health->start_period_ms) + "ms";
  return dump(j);
}

std::string result_to_json(const TaskResult& result) {
  return dump(result_object(result));
}

Result<TaskResult> result_from_json(const std::string& text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return invalid_field("result", "not valid JSON");
  if (!doc.is_object()) return invalid_field("result", "expected a JSON object");
  TaskResult r;
  try {
    for (const auto& [key, v] : doc.items()) {
      std::string f = "result." + key;
      if (key == "cause") {
        TRY_ASSIGN(r.cause, get_string(v, f));
      } else if (key == "exit_code") {
        TRY_ASSIGN(r.exit_code, get_int(v, f));
      } else if (key == "signal") {
        TRY_ASSIGN(r.signal, get_int(v, f));
      } else if (key == "killed_by") {
        TRY_ASSIGN(r.killed_by, get_string(v, f));
      } else if (key == "error") {
        TRY_ASSIGN(r.error, get_string(v, f));
      } else if (key == "wall_ms") {
        if (!v.is_number()) return invalid_field(f, "expected a number");
        r.wall_ms = v.get<double>();
      } else if (key == "cpu_usec") {
        TRY_ASSIGN(r.cpu_usec, get_unsigned(v, f));
      } else if (key == "memory_peak_bytes") {
        TRY_ASSIGN(r.memory_peak_bytes, get_unsigned(v, f));
      } else if (key == "oom_kills") {
        TRY_ASSIGN(r.oom_kills, get_unsigned(v, f));
      } else if (key == "stdout_bytes") {
        TRY_ASSIGN(r.stdout_bytes, get_unsigned(v, f));
      } else if (key == "stderr_bytes") {
        TRY_ASSIGN(r.stderr_bytes, get_unsigned(v, f));
      } else if (key == "stdout_truncated") {
        TRY_ASSIGN(r.stdout_truncated, get_bool(v, f));
      } else if (key == "stderr_truncated") {
        TRY_ASSIGN(r.stderr_truncated, get_bool(v, f));
      } else if (key == "cleanup_error") {
        TRY_ASSIGN(r.cleanup_error, get_string(v, f));
      } else {
        return invalid_field(f, "unknown field");
      }
    }
  } catch (const json::exception& e) {
    return invalid_field("result", e.what());
  }
  return r;
}

std::string task_to_json(const Task& t) {
  json request = json::parse(t.request_json, nullptr, /*allow_exceptions=*/false);
  if (request.is_discarded()) request = nullptr;
  json j = {{"id", t.id},
            {"agent", t.agent},
            {"state", state_name(t.state)},
            {"tier", t.tier},
            {"seq", t.seq},
            {"request", std::move(request)},
            {"submitted_at", t.submitted_at},
            {"admitted_at", t.admitted_at},
            {"started_at", t.started_at},
            {"exited_at", t.exited_at},
            {"reaped_at", t.reaped_at},
            {"pid", static_cast<int64_t>(t.pid)},
            {"kill_requested_by", t.kill_requested_by},
            {"stuck", t.stuck},
            {"result", t.result ? result_object(*t.result) : json(nullptr)}};
  if (!t.trust_json.empty()) {
    json trust = json::parse(t.trust_json, nullptr, false);
    if (!trust.is_discarded()) j["trust"] = std::move(trust);
  }
  if (t.health)
    j["health"] = {{"status", t.health->status},
                   {"failing_streak", t.health->failing_streak},
                   {"checks", t.health->checks},
                   {"last",
                    {{"exit_code", t.health->last_exit_code},
                     {"output", t.health->last_output},
                     {"at", t.health->last_at},
                     {"duration_ms", t.health->last_duration_ms}}}};
  return dump(j);
}

double now_seconds() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace clawcage::orchestrator
