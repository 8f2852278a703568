// Service health commands: run inside the task's sandbox through engine::exec_in_sandbox
// (the task's namespaces, root, cgroups and containment), one at a time per task, from the
// loop's tick. A check is our child; its exit arrives with SIGCHLD like a sandbox init's.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>

#include "base/files.h"
#include "orchestrator/internal.h"
#include "orchestrator/orchestrator.h"

namespace clawcage::orchestrator {

namespace {

constexpr size_t kHealthOutputBytes = 4096;

std::string output_tail(const std::string& path) {
  auto text = read_file(path);
  if (!text) return "";
  if (text->size() > kHealthOutputBytes) return text->substr(text->size() - kHealthOutputBytes);
  return *text;
}

}  // namespace

void Orchestrator::start_health_checks(Live& l) {
  if (!l.request.health) return;
  l.task.health = HealthState{};
  l.health_next = Clock::now() + std::chrono::milliseconds(l.request.health->interval_ms);
  health_tasks_.insert(l.task.id);
}

void Orchestrator::stop_health_checks(Live& l) {
  health_tasks_.erase(l.task.id);
  if (l.health_check) {
    health_by_pid_.erase(l.health_check->pid());
    l.health_check.reset();  // SIGKILL and reap
  }
}

Result<os::ChildProcess> Orchestrator::exec_health_check(const std::string& id,
                                                         const HealthCheck& hc) {
  TRY_ASSIGN(UniqueFd in, open_file("/dev/null", O_RDONLY | O_CLOEXEC));
  TRY_ASSIGN(UniqueFd out, open_file(config_.run_dir + "/health/" + id,
                                     O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  engine::ExecOptions o;
  o.state_root = config_.state_root();
  o.id = id;
  o.args = hc.command;
  o.stdio_fds[0] = in.get();
  o.stdio_fds[1] = out.get();
  o.stdio_fds[2] = out.get();
  return engine::exec_in_sandbox(*cgroups_, o);
}

void Orchestrator::run_health_checks() {
  auto now = Clock::now();
  for (auto it = health_tasks_.begin(); it != health_tasks_.end();) {
    auto l = live_.find(*it);
    if (l == live_.end()) {
      it = health_tasks_.erase(it);
      continue;
    }
    Live& live = *l->second;
    ++it;
    if (live.health_check) {
      if (now >= live.health_deadline && !live.health_timed_out) {
        live.health_timed_out = true;
        (void)live.health_check->signal(SIGKILL);
      }
      continue;
    }
    if (now < live.health_next || live.task.state != TaskState::started ||
        !live.task.kill_requested_by.empty())
      continue;
    const HealthCheck& hc = *live.request.health;
    live.health_started = now;
    live.health_timed_out = false;
    auto child = exec_health_check(live.task.id, hc);
    if (!child) {
      // A check that cannot start is a failed check, with the reason as its output.
      const Error& e = child.error();
      health_result(live, e.operation == "exec" ? (e.code == ENOENT ? 127 : 126) : 125,
                    e.message() + "\n");
      continue;
    }
    live.health_deadline = now + std::chrono::milliseconds(hc.timeout_ms);
    health_by_pid_[child->pid()] = live.task.id;
    live.health_check.emplace(std::move(*child));
  }
}

bool Orchestrator::reap_health_check(pid_t pid) {
  auto it = health_by_pid_.find(pid);
  if (it == health_by_pid_.end()) return false;
  std::string id = it->second;
  health_by_pid_.erase(it);
  auto l = live_.find(id);
  if (l == live_.end() || !l->second->health_check) return false;
  Live& live = *l->second;
  auto status = live.health_check->wait(0);
  live.health_check.reset();
  std::string output = output_tail(config_.run_dir + "/health/" + id);
  if (live.health_timed_out) {
    output += "(timed out after " + std::to_string(live.request.health->timeout_ms) + " ms)\n";
    health_result(live, 124, output);
  } else {
    health_result(live, status && *status ? (*status)->shell_code() : 125, output);
  }
  return true;
}

void Orchestrator::health_result(Live& live, int exit_code, const std::string& output) {
  auto now = Clock::now();
  const HealthCheck& hc = *live.request.health;
  HealthState& h = *live.task.health;
  const std::string& id = live.task.id;
  ++h.checks;
  h.last_exit_code = exit_code;
  h.last_output = output;
  h.last_at = now_seconds();
  h.last_duration_ms = std::chrono::duration<double, std::milli>(now - live.health_started).count();
  live.health_next = now + std::chrono::milliseconds(hc.interval_ms);
  if (exit_code == 0) {
    if (h.status != "healthy") {
      log_event("task " + id + " is healthy");
      audit({{"event", "health"}, {"task", id}, {"status", "healthy"}, {"checks", h.checks}});
    }
    h.status = "healthy";
    h.failing_streak = 0;
    return;
  }
  // Failures in the start period do not count (a service may take that long to come up).
  if (now - live.started < std::chrono::milliseconds(hc.start_period_ms)) return;
  ++h.failing_streak;
  if (h.failing_streak < hc.retries || h.status == "unhealthy") return;
  h.status = "unhealthy";
  audit({{"event", "health"},
         {"task", id},
         {"status", "unhealthy"},
         {"failing_streak", h.failing_streak},
         {"exit_code", exit_code},
         {"action", live.request.restart.policy != "no" ? "kill" : "none"}});
  log_event("task " + id + " is unhealthy after " + std::to_string(h.failing_streak) +
            " failed checks (last exit " + std::to_string(exit_code) + ")");
  // A service with a restart policy is killed and restarted; without one it runs on, marked
  // unhealthy.
  if (live.request.restart.policy != "no") (void)kill(id, SIGKILL, "health");
}

}  // namespace clawcage::orchestrator
