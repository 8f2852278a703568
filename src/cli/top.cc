// `clawcage top`: the daemon's live picture in a terminal, from the same sources a dashboard
// uses: GET /metrics (counts, rates between two samples), GET /v1/health, and the running
// and stuck tasks from GET /v1/tasks (names of agents included: top talks to the API).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/client.h"
#include "cli/commands.h"
#include "orchestrator/metrics.h"

namespace clawcage::cli {

namespace {

using nlohmann::json;
using orchestrator::sum_samples;
using Clock = std::chrono::steady_clock;

struct TopFlags {
  std::string socket;
  double interval = 2;
  bool once = false;
  int rows = 10;
};

struct Snapshot {
  Clock::time_point at;
  std::vector<orchestrator::Sample> metrics;
  json health, running, exited;
};

Result<json> get_json(api::Client& client, const std::string& path) {
  TRY_ASSIGN(api::Response r, client.request("GET", path));
  json j = json::parse(r.body, nullptr, false);
  if (j.is_discarded()) return make_error("GET", path, "the daemon's answer is not JSON");
  return j;
}

Result<Snapshot> take(api::Client& client) {
  Snapshot s;
  s.at = Clock::now();
  TRY_ASSIGN(api::Response m, client.request("GET", "/metrics"));
  if (m.status != 200) return make_error("GET", "/metrics", "HTTP " + std::to_string(m.status));
  s.metrics = orchestrator::parse_samples(m.body);
  TRY_ASSIGN(s.health, get_json(client, "/v1/health"));
  TRY_ASSIGN(s.running, get_json(client, "/v1/tasks?state=started&limit=100000"));
  TRY_ASSIGN(s.exited, get_json(client, "/v1/tasks?state=exited&limit=1000"));
  return s;
}

// The "tasks" list of a GET /v1/tasks answer (empty when missing).
const json& tasks_of(const json& answer) {
  static const json none = json::array();
  auto it = answer.find("tasks");
  return it != answer.end() && it->is_array() ? *it : none;
}

std::string fixed(double v, int digits = 1) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  std::string out;
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i)
      out += r[i] + (i + 1 < r.size() ? std::string(width[i] - r[i].size() + 3, ' ') : "");
    out += "\n";
  }
  return out;
}

std::string frame(const Snapshot& now, const Snapshot* before, int rows) {
  const auto& m = now.metrics;
  std::string out;
  std::time_t t = std::time(nullptr);
  char when[32];
  std::strftime(when, sizeof when, "%H:%M:%S", std::localtime(&t));
  bool healthy = now.health.value("healthy", false);
  out += std::string("clawcage top  ") + when + "  daemon " + (healthy ? "healthy" : "UNHEALTHY");
  if (!healthy)
    if (auto checks = now.health.find("checks"); checks != now.health.end() && checks->is_object())
      for (const auto& [name, check] : checks->items())
        if (check.is_object() && !check.value("ok", true)) out += "  [" + name + "]";
  out += "\n\n";
  out += "tasks    ";
  for (const char* st : {"queued", "admitted", "created", "started"})
    out +=
        std::string(st) + " " + fixed(sum_samples(m, "clawcage_tasks", {{"state", st}}), 0) + "   ";
  out += "stuck " + fixed(sum_samples(m, "clawcage_stuck_sandboxes"), 0) + "   leaked " +
         fixed(sum_samples(m, "clawcage_leaked_kernel_resources"), 0) + "\n";
  out += "sandboxes/s  ";
  if (before) {
    double dt = std::chrono::duration<double>(now.at - before->at).count();
    for (const char* op : {"create", "delete"}) {
      double d =
          sum_samples(m, "clawcage_container_changes_total", {{"operation", op}}) -
          sum_samples(before->metrics, "clawcage_container_changes_total", {{"operation", op}});
      out += std::string(op) + " " + fixed(dt > 0 ? d / dt : 0) + "   ";
    }
    out += "(over " + fixed(dt) + " s)\n";
  } else {
    out += "create -   delete -   (needs two samples)\n";
  }
  out += "exits    ";
  std::map<std::string, double> causes;
  for (const auto& s : m)
    if (s.name == "clawcage_task_exits_total") {
      std::string key = s.labels.count("cause") ? s.labels.at("cause") : "?";
      if (key == "exited")
        key += s.labels.count("exit_code") && s.labels.at("exit_code") == "zero" ? " 0" : " !0";
      else if (s.labels.count("killed_by") && !s.labels.at("killed_by").empty())
        key += " by " + s.labels.at("killed_by");
      causes[key] += s.value;
    }
  for (const auto& [k, v] : causes) out += k + " " + fixed(v, 0) + "   ";
  out += "\n\n";

  // Running tasks per agent and the ones running longest.
  std::map<std::string, int> per_agent;
  std::vector<const json*> running;
  for (const auto& task : tasks_of(now.running)) {
    ++per_agent[task.value("agent", "?")];
    running.push_back(&task);
  }
  std::vector<std::pair<int, std::string>> agents;
  for (const auto& [a, n] : per_agent) agents.push_back({-n, a});
  std::sort(agents.begin(), agents.end());
  std::vector<std::vector<std::string>> a_rows = {{"AGENT", "RUNNING"}};
  for (size_t i = 0; i < agents.size() && i < static_cast<size_t>(rows); ++i)
    a_rows.push_back({agents[i].second, std::to_string(-agents[i].first)});
  if (agents.size() > static_cast<size_t>(rows))
    a_rows.push_back({"(" + std::to_string(agents.size() - rows) + " more)", ""});
  out += table(a_rows) + "\n";

  std::sort(running.begin(), running.end(), [](const json* a, const json* b) {
    return a->value("started_at", 0.0) < b->value("started_at", 0.0);
  });
  double epoch =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::vector<std::vector<std::string>> s_rows = {{"SLOWEST", "AGENT", "TIER", "RUNNING FOR"}};
  for (size_t i = 0; i < running.size() && i < static_cast<size_t>(rows); ++i) {
    const json& task = *running[i];
    std::string health;
    if (task.contains("health") && task["health"].is_object())
      health = " (" + task["health"].value("status", "") + ")";
    s_rows.push_back({task.value("id", "?") + health, task.value("agent", "?"),
                      task.value("tier", "?"), human_age(epoch - task.value("started_at", epoch))});
  }
  out += table(s_rows);

  std::vector<std::vector<std::string>> stuck = {{"STUCK", "AGENT", "WHY"}};
  for (const json* list : {&now.running, &now.exited})
    for (const auto& task : tasks_of(*list))
      if (task.value("stuck", false)) {
        std::string why;
        if (task.contains("result") && task["result"].is_object())
          why = task["result"].value("cleanup_error", "");
        stuck.push_back({task.value("id", "?"), task.value("agent", "?"), why});
      }
  if (stuck.size() > 1) out += "\n" + table(stuck);
  return out;
}

int top(const TopFlags& f) {
  api::Client client(f.socket);
  std::optional<Snapshot> before;
  if (f.once) {
    // Rates need two samples: one interval apart.
    auto first = take(client);
    if (!first) {
      std::cerr << "clawcage top: " << first.error().message() << "\n";
      return 1;
    }
    before = std::move(*first);
    std::this_thread::sleep_for(std::chrono::duration<double>(f.interval));
  }
  for (;;) {
    auto now = take(client);
    if (!now) {
      std::cerr << "clawcage top: " << now.error().message() << "\n";
      return 1;
    }
    std::string text = frame(*now, before ? &*before : nullptr, f.rows);
    if (f.once) {
      std::cout << text << std::flush;
      return 0;
    }
    std::cout << "\033[H\033[2J" << text << std::flush;  // home, clear
    before = std::move(*now);
    std::this_thread::sleep_for(std::chrono::duration<double>(f.interval));
  }
}

}  // namespace

void add_top_command(CLI::App& app, int& exit_code) {
  auto f = std::make_shared<TopFlags>();
  CLI::App* c = app.add_subcommand(
      "top",
      "the daemon's live picture: tasks per state and agent, create/delete rates, exits, "
      "the slowest and the stuck tasks");
  add_socket_option(c, f->socket);
  c->add_option("--interval,-n", f->interval, "seconds between samples (default 2)")
      ->check(CLI::Range(0.1, 3600.0));
  c->add_option("--rows", f->rows, "rows per table (default 10)")->check(CLI::Range(1, 10000));
  c->add_flag("--once", f->once, "print one frame (rates over one interval) and exit");
  c->callback([f, &exit_code] { exit_code = top(*f); });
}

}  // namespace clawcage::cli
