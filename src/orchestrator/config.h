// The daemon's configuration: where it keeps things, its defaults and budgets, and the named
// volumes tasks may mount. Read from one JSON file (deploy/daemon.json is the example);
// unknown keys are errors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "orchestrator/journal.h"

namespace clawcage::orchestrator {

struct VolumeConfig {
  std::string name;
  std::string path;     // host directory
  bool shared = false;  // mounted read-only into every task that asks, always
  std::string agent;    // non-empty: a persistent volume only this agent may mount
};

struct DaemonConfig {
  std::string socket = "/run/clawcage/api.sock";
  std::string data_dir = "/var/lib/clawcage/daemon";  // journal.db, logs/, outputs/, stdin/
  std::string run_dir = "/run/clawcaged";             // sandboxes/: the sandboxes' state dirs
  std::string cgroup_parent = "clawcaged";            // <hierarchy>/<parent>/<task id>
  std::string image_store;                            // "" = the default store
  std::string default_tier = "container";
  // The trust policy (policy/trust_policy.h): tier routing, image signatures, volume rules.
  // "" = none (no signature checks; the request's or the default tier).
  std::string trust_policy;
  std::string gvisor_platform;  // tier gvisor: runsc --platform ("": env, else ptrace)
  int64_t default_deadline_ms = 3600 * 1000;
  int64_t max_deadline_ms = 24 * 3600 * 1000;
  int64_t kill_grace_ms = 2000;
  std::string default_memory = "256M";
  int64_t default_pids = 256;
  size_t max_queued = 10000;                  // beyond: 429 with Retry-After
  size_t max_running = 0;                     // 0: only the kernel budgets bound it
  size_t max_running_per_agent = 0;           // 0: no per-agent quota
  uint64_t log_cap_bytes = 8 << 20;           // per stream and task
  double memory_overcommit = 2.0;             // sum of admitted memory limits <= MemTotal * this
  uint64_t memory_reserve_bytes = 256 << 20;  // MemAvailable kept free
  uint64_t pid_reserve = 1024;                // pids kept free below pid_max
  uint64_t fd_reserve = 256;                  // fds kept free below RLIMIT_NOFILE
  int64_t reconcile_interval_ms = 10000;
  size_t spawn_batch = 16;  // spawns per event-loop turn (API stays responsive)
  Journal::Sync journal_sync = Journal::Sync::full;
  // Exclusive cores: tasks may ask for cores of their own from cpu_pool ("" = every online
  // CPU), keeping min_shared_cpus for the others. Off by default: it gives every task a
  // cpuset cgroup, and the kernel validates a cpuset change against all its siblings, so
  // spawning slows as thousands of tasks run (measured: bench/README.md).
  bool cpu_pinning = false;
  std::string cpu_pool;
  int64_t min_shared_cpus = 1;
  // Distinct agent label values in metrics (hashes of agent names); later agents: "other".
  int64_t metrics_agent_cap = 100;
  // An HTTP listener for GET /metrics only ("ADDRESS:PORT", e.g. "127.0.0.1:9464"); the API
  // itself is never served on TCP. "" (default): none.
  std::string metrics_listen;
  // The hash-chained audit trail (audit.h); "" turns it off.
  std::string audit_log = "/var/log/clawcage/audit.jsonl";
  uint64_t audit_rotate_bytes = 64 << 20;
  int64_t audit_keep = 10;
  std::vector<VolumeConfig> volumes;

  std::string journal_path() const { return data_dir + "/journal.db"; }
  std::string state_root() const { return run_dir + "/sandboxes"; }
};

Result<DaemonConfig> parse_config(const std::string& json_text);
Result<DaemonConfig> load_config(const std::string& path);
// Checks values that need the host: volume paths exist and are directories, names unique.
Result<void> check_config(const DaemonConfig& config);

}  // namespace clawcage::orchestrator
