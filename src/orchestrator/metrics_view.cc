// The daemon's metrics: what each family means is in the README ("Metrics"). Counters move
// on lifecycle transitions (record() calls count_transition); gauges are computed at scrape
// time, the kernel-side ones by reading cgroupfs and the state dir, not our bookkeeping.
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/files.h"
#include "orchestrator/internal.h"
#include "orchestrator/orchestrator.h"

namespace clawcage::orchestrator {

using namespace internal;

namespace {

const std::vector<double> kLatencyBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                             0.25,  0.5,    1,     2.5,  5,     10,   30};
const std::vector<double> kMemoryBuckets = {1 << 20,   4 << 20,   16 << 20,  64 << 20,
                                            256 << 20, 1ll << 30, 4ll << 30, 16ll << 30};

}  // namespace

void Orchestrator::declare_metrics() {
  auto& m = metrics_;
  m.counter("clawcage_container_changes_total",
            "Sandboxes created and deleted (kernel resources removed), by tier and agent (a hash "
            "of its name, capped).");
  m.counter("clawcage_task_exits_total",
            "Tasks that reached a final result, by cause, tier, who killed (killed/timeout) and "
            "whether the exit code was zero.");
  m.counter("clawcage_task_cpu_seconds_total", "CPU time used by finished tasks, by tier.");
  m.counter("clawcage_task_oom_kills_total", "OOM-killer kills inside finished tasks, by tier.");
  m.histogram("clawcage_task_memory_peak_bytes", "Peak memory of finished tasks, by tier.",
              {kMemoryBuckets.begin(), kMemoryBuckets.end()});
  m.histogram("clawcage_queue_wait_seconds", "Time from submit to admission.", kLatencyBuckets);
  m.histogram("clawcage_spawn_seconds", "Time from admission to start (sandbox created), by tier.",
              kLatencyBuckets);
  m.counter("clawcage_orphans_reaped_total",
            "Sandboxes found in the kernel that no live task owned, removed by the reconciler.");
  m.gauge("clawcage_tasks", "Tasks not yet final, by state.");
  m.gauge("clawcage_queue_depth", "Tasks waiting for admission (restarts in backoff included).");
  m.gauge("clawcage_running_tasks",
          "Live tasks per agent; agent is a hash of the name, capped (the rest are \"other\").");
  m.gauge("clawcage_stuck_sandboxes", "Sandboxes whose cgroup would not empty after a kill.");
  m.gauge("clawcage_kernel_sandboxes",
          "Sandboxes the kernel holds under the daemon's names, counted from cgroupfs and the "
          "state dir, by kind.");
  m.gauge("clawcage_leaked_kernel_resources",
          "Kernel resources under the daemon's names that no live or stuck task owns, by kind.");
  m.gauge("clawcage_healthy", "1 when GET /v1/health would answer 200.");
  m.gauge("process_resident_memory_bytes", "Resident memory of the daemon.");
  m.gauge("process_open_fds", "Open file descriptors of the daemon.");
  // Present from the start, at zero, so rate() and absent() behave.
  for (const char* op : {"create", "delete"})
    for (const char* tier : {"chroot", "container", "strict"})
      m.add("clawcage_container_changes_total",
            {{"operation", op}, {"tier", tier}, {"agent", "none"}}, 0);
  m.add("clawcage_orphans_reaped_total", {}, 0);
}

void Orchestrator::count_delete(const std::string& tier, const std::string& agent) {
  metrics_.add("clawcage_container_changes_total",
               {{"operation", "delete"},
                {"tier", tier.empty() ? "unknown" : tier},
                {"agent", agent.empty() ? "unknown" : agent_labels_.label(agent)}});
}

void Orchestrator::count_transition(const Task& t, TaskState before, double /*now*/) {
  if (t.state == before) return;
  std::string tier = t.tier.empty() ? "unknown" : t.tier;
  if (t.state == TaskState::created) {
    metrics_.add(
        "clawcage_container_changes_total",
        {{"operation", "create"}, {"tier", tier}, {"agent", agent_labels_.label(t.agent)}});
    return;
  }
  if (t.state != TaskState::exited || !t.result) return;
  const TaskResult& r = *t.result;
  metrics_.add("clawcage_task_exits_total", {{"cause", r.cause},
                                             {"tier", tier},
                                             {"killed_by", r.killed_by},
                                             {"exit_code", r.exit_code == 0 ? "zero" : "nonzero"}});
  if (r.cpu_usec)
    metrics_.add("clawcage_task_cpu_seconds_total", {{"tier", tier}},
                 static_cast<double>(r.cpu_usec) / 1e6);
  if (r.oom_kills)
    metrics_.add("clawcage_task_oom_kills_total", {{"tier", tier}},
                 static_cast<double>(r.oom_kills));
  if (r.memory_peak_bytes)
    metrics_.observe("clawcage_task_memory_peak_bytes", {{"tier", tier}},
                     static_cast<double>(r.memory_peak_bytes));
  // The sandbox's kernel resources went with the exit unless it is stuck (counted when a
  // retry removes them).
  if (t.pid > 0 && !t.stuck) count_delete(tier, t.agent);
}

std::string Orchestrator::metrics_text() {
  auto& m = metrics_;
  std::map<TaskState, size_t> by_state;
  for (const auto& [id, l] : live_) ++by_state[l->task.state];
  by_state[TaskState::queued] += queue_.size() + delayed_.size();
  m.reset("clawcage_tasks");
  for (TaskState s :
       {TaskState::queued, TaskState::admitted, TaskState::created, TaskState::started})
    m.set("clawcage_tasks", {{"state", state_name(s)}}, static_cast<double>(by_state[s]));
  m.set("clawcage_queue_depth", {}, static_cast<double>(queue_.size() + delayed_.size()));
  m.reset("clawcage_running_tasks");
  std::map<std::string, size_t> per_label;
  for (const auto& [agent, n] : running_per_agent_) per_label[agent_labels_.label(agent)] += n;
  for (const auto& [label, n] : per_label)
    m.set("clawcage_running_tasks", {{"agent", label}}, static_cast<double>(n));
  m.set("clawcage_stuck_sandboxes", {}, static_cast<double>(stuck_.size()));
  // From the kernel's side: cgroups under our parent, state dirs under our run dir.
  auto cgroup_names = cgroups_->list();
  auto state_dirs = list_dir(config_.state_root());
  m.set("clawcage_kernel_sandboxes", {{"kind", "cgroup"}},
        static_cast<double>(cgroup_names.size()));
  m.set("clawcage_kernel_sandboxes", {{"kind", "state_dir"}},
        static_cast<double>(state_dirs.size()));
  auto leaked = [&](const std::vector<std::string>& names) {
    size_t n = 0;
    for (const auto& name : names) n += !live_.count(name) && !stuck_.count(name);
    return static_cast<double>(n);
  };
  m.set("clawcage_leaked_kernel_resources", {{"kind", "cgroup"}}, leaked(cgroup_names));
  m.set("clawcage_leaked_kernel_resources", {{"kind", "state_dir"}}, leaked(state_dirs));
  m.set("clawcage_healthy", {}, health().healthy ? 1 : 0);
  long page = sysconf(_SC_PAGESIZE);
  auto statm = read_file("/proc/self/statm");
  if (statm) {
    unsigned long size = 0, resident = 0;
    if (sscanf(statm->c_str(), "%lu %lu", &size, &resident) == 2)
      m.set("process_resident_memory_bytes", {}, static_cast<double>(resident) * page);
  }
  m.set("process_open_fds", {}, static_cast<double>(list_dir("/proc/self/fd").size()));
  return m.render();
}

Result<std::string> Orchestrator::stats_json(const std::string& id) {
  TRY_ASSIGN(Task t, get(id));
  auto it = live_.find(id);
  if (it == live_.end() || t.state != TaskState::started)
    return with_code(make_error("stats", id,
                                std::string("the task is ") + state_name(t.state) +
                                    ", not running (a final task's figures are in its result)"),
                     EBUSY);
  Live& l = *it->second;
  Result<os::CgroupStats> stats = make_error("stats", id, "no cgroup");
  if (l.sandbox) {
    stats = l.sandbox->stats();
  } else if (auto cg = cgroups_->open(id)) {
    stats = (*cg)->stats();
  }
  if (!stats) return with_code(stats.error(), ENOENT);
  nlohmann::json j = {{"id", id},
                      {"cpu_usec", stats->cpu_usage_usec},
                      {"memory_current_bytes", stats->memory_current_bytes},
                      {"memory_peak_bytes", stats->memory_peak_bytes},
                      {"oom_kills", stats->oom_kills},
                      {"pids_current", stats->pids_current},
                      {"pids_peak", stats->pids_peak}};
  return j.dump();
}

}  // namespace clawcage::orchestrator
