// What GET /v1/health and GET /v1/volumes report.
#include "orchestrator/orchestrator.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "base/files.h"
#include "image/store.h"
#include "linux/process.h"
#include "orchestrator/internal.h"
#include "policy/task_request.h"
#include "policy/volume_rules.h"
#include "spec/task.h"
#include "spec/tiers/tier.h"

namespace clawcage::orchestrator {

using namespace internal;

// ---------------------------------------------------------------------------------------
// Health and volumes

HealthReport Orchestrator::health() {
  using nlohmann::json;
  json checks = json::object();
  bool healthy = true;
  auto check = [&](const std::string& name, bool ok, json detail) {
    detail["ok"] = ok;
    checks[name] = detail;
    if (!ok) healthy = false;
  };
  {
    spec::Resources none;
    std::string probe = "_health-probe-" + std::to_string(getpid());
    auto cg = cgroups_->create(probe, none);
    std::string err;
    if (!cg)
      err = cg.error().message();
    else if (auto d = (*cg)->destroy(); !d)
      err = d.error().message();
    check("cgroup_writable", err.empty(), json{{"parent", config_.cgroup_parent}, {"error", err}});
  }
  auto b = read_host_budget();
  if (b) {
    uint64_t pid_headroom = b->pid_max > b->threads ? b->pid_max - b->threads : 0;
    check("pid_headroom", pid_headroom > config_.pid_reserve,
          json{{"pid_max", b->pid_max}, {"tasks", b->threads}, {"headroom", pid_headroom}});
    check("memory_headroom", b->mem_available >= config_.memory_reserve_bytes,
          json{{"mem_total", b->mem_total},
               {"mem_available", b->mem_available},
               {"admitted_limits", admitted_memory_},
               {"capacity", static_cast<double>(b->mem_total) * config_.memory_overcommit}});
    check("fd_headroom", b->fds_open + config_.fd_reserve < b->fd_limit,
          json{{"open", b->fds_open}, {"limit", b->fd_limit}});
  } else {
    check("host_budget", false, json{{"error", b.error().message()}});
  }
  auto w = journal_->probe_writable();
  check("journal_writable", w.ok(),
        json{{"path", journal_->path()}, {"error", w ? "" : w.error().message()}});
  if (audit_)
    check(
        "audit_writable", audit_error_.empty(),
        json{{"path", config_.audit_log}, {"error", audit_error_}, {"events", audit_->head().seq}});
  double lag = std::chrono::duration<double>(Clock::now() - last_reconcile_).count();
  check("reconciler", lag < 3.0 * static_cast<double>(config_.reconcile_interval_ms) / 1000.0,
        json{{"lag_seconds", lag}, {"orphans_reaped", orphans_reaped_}});
  check("stuck", stuck_.empty(), json{{"count", stuck_.size()}});
  json cpus{{"pinning", config_.cpu_pinning},
            {"shared", format_cpu_list(cpus_.shared())},
            {"pinnable_free", cpus_.free()},
            {"held_by", cpus_.holders()}};
  json out{{"healthy", healthy},      {"cpus", cpus},
           {"checks", checks},        {"queued", queue_.size()},
           {"running", live_.size()}, {"admission_blocked_by", last_admission_block_}};
  return HealthReport{healthy, out.dump()};
}

std::string Orchestrator::volumes_json() const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& v : config_.volumes)
    list.push_back({{"name", v.name}, {"path", v.path}, {"shared", v.shared}, {"agent", v.agent}});
  return nlohmann::json{{"volumes", list}}.dump();
}

}  // namespace clawcage::orchestrator
