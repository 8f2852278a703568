// The orchestrator: admission, spawning, supervision and reconciliation of every task the
// daemon runs, in one single-threaded event loop. It owns an epoll fd (poll_fd) that holds
// everything it waits on (SIGCHLD, its timer, adopted sandboxes' pidfds, the log directory's
// inotify); the API layer nests it in its own loop and calls process() when it is readable.
//
// Journal writes join the transaction the loop has open; nothing a client is told is true
// before commit() returns, and no sandbox is created before its "admitted" row is committed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "engine/sandbox.h"
#include "linux/cgroup.h"
#include "orchestrator/admission.h"
#include "orchestrator/audit.h"
#include "orchestrator/config.h"
#include "orchestrator/cpus.h"
#include "orchestrator/journal.h"
#include "orchestrator/metrics.h"
#include "orchestrator/task.h"
#include "policy/trust_policy.h"

namespace clawcage::orchestrator {

// Sets Error::reason, which the API layer maps to an HTTP status:
// EINVAL 400, EACCES 403, ENOENT 404, EEXIST/EBUSY 409, E2BIG 413, EAGAIN 429.
Error with_code(Error e, int reason);

struct SubmitResult {
  Task task;
  bool created = false;  // false: an existing task with the same id and request
};

struct HealthReport {
  bool healthy = true;
  std::string json;  // {"healthy":..., "checks": {...}}
};

class Orchestrator {
 public:
  // Opens the journal, the cgroup manager and the directories, then reconciles the journal
  // with the kernel (see reconcile()).
  static Result<std::unique_ptr<Orchestrator>> open(DaemonConfig config);
  ~Orchestrator();

  const DaemonConfig& config() const { return config_; }
  int poll_fd() const { return epoll_.get(); }
  // Handles whatever poll_fd reported: exits, timers, adopted sandboxes, log growth.
  void process();
  // Admits and spawns up to config.spawn_batch queued tasks (commits on the way).
  void spawn_turn();
  bool has_runnable_work() const;
  // Group commit of the loop's open transaction.
  Result<void> commit();

  // API operations. Each joins the open transaction.
  Result<SubmitResult> submit(const std::string& body);
  Result<Task> get(const std::string& id);
  Result<std::vector<Task>> list(std::optional<TaskState> state, const std::string& agent,
                                 size_t limit);
  Result<Task> kill(const std::string& id, int signal, const std::string& by);
  // Removes a final task's record, logs and output. force: kill a live one first; its record
  // goes once it is reaped.
  Result<void> remove(const std::string& id, bool force);
  HealthReport health();
  // GET /metrics: the Prometheus text format.
  std::string metrics_text();
  // GET /v1/tasks/{id}/stats: a live task's cgroup figures (404 unknown, 409 not running).
  Result<std::string> stats_json(const std::string& id);
  std::string volumes_json() const;
  // Log files of a task and whether they were capped.
  std::string log_path(const std::string& id, bool stderr_stream) const;
  bool log_truncated(const std::string& id, bool stderr_stream);
  uint64_t log_cap() const { return config_.log_cap_bytes; }

  // Attach: input for a running task's stdin pipe (stdin_open tasks). Returns the bytes still
  // buffered (the caller stops reading its client while that is large); EPIPE when the task
  // has no open stdin.
  Result<size_t> stdin_write(const std::string& id, std::string_view data);
  // EOF to the task's stdin once the buffered input is written.
  void stdin_close(const std::string& id);
  std::function<void(const std::string& id)> on_stdin_drained;

  // Called when a task gets its result (waiters), and when a log grows or a task ends
  // (followers).
  std::function<void(const std::string& id)> on_final;
  std::function<void(const std::string& id)> on_output;

  // Compares the journal with the kernel and repairs both (start-up and periodic).
  void reconcile(bool startup);

  size_t queued() const { return queue_.size(); }
  size_t running() const { return live_.size(); }

 private:
  using Clock = std::chrono::steady_clock;
  struct Live {
    Task task;
    TaskRequest request;
    std::optional<engine::Sandbox> sandbox;  // our own child
    UniqueFd adopted_pidfd;                  // re-adopted after a daemon restart
    UniqueFd stdin_w;                        // stdin_open: the pipe's write end
    std::string stdin_pending;
    bool stdin_close_pending = false;
    int64_t memory_limit = 0;
    std::chrono::steady_clock::time_point started;
    bool term_sent = false;
    bool remove_when_reaped = false;
    std::optional<os::ExitStatus> exit_from_keeper;
    // A health check in flight (our child, inside the sandbox), and when the next is due.
    std::optional<os::ChildProcess> health_check;
    Clock::time_point health_next, health_deadline, health_started;
    bool health_timed_out = false;
  };

  Orchestrator() = default;
  Result<void> setup();
  Result<void> validate_request(TaskRequest& request);
  Result<engine::CreateOptions> create_options(const Task& task, const TaskRequest& request,
                                               std::string& tier, int64_t& memory,
                                               std::vector<std::string>& controls,
                                               std::string& image_digest,
                                               std::optional<policy::TrustDecision>& trust);
  // Under a trust policy, the decision for a request as it stands (submit-time check; the
  // same check runs again at task start against the digest that is mounted).
  Result<void> check_trust(const TaskRequest& request);
  Result<SubmitResult> submit_request(const std::string& body);
  // Appends to the audit trail (audit.h); a failure is logged and reported by health.
  void audit(nlohmann::json event);
  void spawn(const std::string& id);
  void reap_children();
  void finish(Live& live, std::optional<os::ExitStatus> status, const std::string& lost_why);
  void on_deadlines();
  // A service that ended is queued again after its backoff; false when it is not restarted.
  bool schedule_restart(Live& live);
  void enforce_log_caps(const std::string& file);
  // Removes a sandbox's cgroup and state dir by name (bounded; error = stuck).
  Result<void> cleanup_kernel(const std::string& id);
  void record(Task& task, TaskState state, const std::string& detail);
  // Metrics (metrics_view.cc): families declared once; counters moved on each transition;
  // gauges computed from memory and the kernel at scrape time.
  void declare_metrics();
  void count_transition(const Task& task, TaskState before, double now);
  void count_delete(const std::string& tier, const std::string& agent);
  void fail_spawn(Task& task, const Error& error, int exit_code);
  void retry_stuck();
  // The exit status the keeper recorded for this task's init, if any.
  std::optional<os::ExitStatus> keeper_exit(const Task& task);
  void flush_stdin(Live& live);
  // Service health (health_checks.cc): starts due checks and times out slow ones (each
  // tick); handles a check's exit; stops a task's checks when it ends.
  void start_health_checks(Live& live);
  void run_health_checks();
  bool reap_health_check(pid_t pid);
  Result<os::ChildProcess> exec_health_check(const std::string& id, const HealthCheck& check);
  void health_result(Live& live, int exit_code, const std::string& output);
  void stop_health_checks(Live& live);
  void drop_stdin(Live& live);
  bool budget_allows(const HostBudget& budget, int64_t memory, std::string& why) const;
  void log_event(const std::string& text);
  // Fault injection for the reconciliation tests: with CLAWCAGE_DAEMON_CRASH_AT=<point>
  // (admitted, created, started, running, exited) the daemon SIGKILLs itself there.
  void crash_point(const char* name);

  DaemonConfig config_;
  std::optional<policy::TrustPolicy> trust_;  // loaded once at open (config_.trust_policy)
  std::unique_ptr<Journal> journal_;
  std::unique_ptr<os::CgroupManager> cgroups_;
  UniqueFd epoll_, signal_fd_, timer_fd_, inotify_fd_;
  FairQueue queue_;
  std::map<std::string, std::unique_ptr<Live>> live_;  // admitted and not yet reaped
  std::map<pid_t, std::string> by_pid_;                // own children
  std::map<int, std::string> by_pidfd_;                // adopted sandboxes
  std::map<int, std::string> by_stdin_fd_;             // stdin pipes with pending input
  std::map<pid_t, std::string> health_by_pid_;         // health checks in flight
  std::set<std::string> health_tasks_;                 // live tasks with a health command
  std::map<std::string, size_t> running_per_agent_;
  std::set<std::string> stuck_;      // exited, cgroup would not go: retried
  std::set<std::string> truncated_;  // "<id>.stdout"/"<id>.stderr" logs cut at the cap
  Clock::time_point last_stuck_retry_;
  int64_t admitted_memory_ = 0;
  // (when, id): SIGTERM at the deadline, SIGKILL kill_grace later.
  std::priority_queue<std::pair<Clock::time_point, std::string>,
                      std::vector<std::pair<Clock::time_point, std::string>>, std::greater<>>
      deadlines_;
  Clock::time_point last_reconcile_;
  uint64_t orphans_reaped_ = 0;
  std::string last_admission_block_;
  std::string crash_at_;
  CpuPool cpus_;
  Metrics metrics_;
  std::unique_ptr<AuditLog> audit_;
  int64_t audit_committed_ = 0;  // the head last written into the journal
  std::string audit_error_;
  BoundedLabels agent_labels_{100};                        // sized from the config in setup()
  std::multimap<Clock::time_point, std::string> delayed_;  // restarts waiting for backoff
  double spawn_cost_ms_ = 5;
  std::optional<HostBudget> budget_;  // the last reading of the kernel's figures
  Clock::time_point budget_at_;
  size_t budget_live_ =
      0;  // live_.size() then  // recent cost of one create, for the turn's batch size
  // Moves every running task without exclusive cores onto the shared cores.
  void apply_shared_cpus();
};

}  // namespace clawcage::orchestrator
