// A task as the daemon knows it: the client's request, its lifecycle state, and how it
// ended. This is what the journal stores and what the API returns.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace clawcage::orchestrator {

// Each state is written to the journal before the action it announces.
enum class TaskState { queued, admitted, created, started, exited, reaped };
const char* state_name(TaskState state);
std::optional<TaskState> parse_state(const std::string& name);
// exited and reaped: the task has its final result.
inline bool is_final(TaskState s) {
  return s == TaskState::exited || s == TaskState::reaped;
}

// A named volume from the daemon's configuration, as a request refers to it.
struct VolumeRef {
  std::string name;
  std::string target;    // absolute path in the sandbox
  bool readonly = true;  // "mode": "ro" (default) or "rw"
};

// A long-running agent: run it again when it ends, after a growing pause.
struct RestartPolicy {
  std::string policy = "no";  // no, on-failure (not a clean exit 0), always
  int64_t max_restarts = 5;   // 0: no limit
  int64_t backoff_ms = 1000;  // first pause; doubles each restart
  int64_t max_backoff_ms = 60000;
};

// A service's health command, run inside its sandbox (an exec: the task's namespaces, root,
// cgroups and containment) every interval. `retries` failures in a row, outside the start
// period, make the task unhealthy.
struct HealthCheck {
  std::vector<std::string> command;
  int64_t interval_ms = 30000;
  int64_t timeout_ms = 10000;
  int64_t start_period_ms = 0;
  int64_t retries = 3;
};

// What the client asked for (POST /v1/tasks). Stored verbatim as JSON in the journal.
struct TaskRequest {
  std::string id;  // client-chosen, or generated
  std::string agent;
  std::string image;   // name:tag or @sha256:... from the image store
  std::string rootfs;  // a host directory instead of an image
  std::vector<std::string> command;
  std::string tier;  // chroot, container, strict ("" = the daemon's default)
  std::vector<std::string> env;
  std::vector<VolumeRef> volumes;
  bool output = true;   // a per-task output dir at /output
  std::string scratch;  // size of a private tmpfs at /scratch, "" = none
  std::string memory;   // e.g. "256M"; "" = the daemon's default
  std::optional<int64_t> pids;
  std::string cpus;  // CPU quota in cores; "" = none (fair share by weight)
  std::optional<int64_t> cpu_shares;
  int64_t exclusive_cpus = 0;  // cores of its own, no other task runs there; 0 = shared
  std::string cwd, user, hostname;
  int64_t deadline_ms = 0;  // 0 = the daemon's default
  std::string stdin_data;   // fed to the task's stdin, then EOF (unless stdin_open)
  // stdin is a pipe the daemon holds open for attach clients (POST .../attach); it closes
  // when an attached client ends its input, or with the task.
  bool stdin_open = false;
  RestartPolicy restart;
  std::optional<HealthCheck> health;
};

// Parses and checks a request body; unknown fields, wrong types and bad values are errors
// that name the field. Does not look at the daemon's configuration (see admission).
Result<TaskRequest> parse_task_request(const std::string& body);
std::string request_to_json(const TaskRequest& request);

// How a task ended. `cause` uses the task record's words: exited, signaled, oom_killed,
// timeout, killed, spawn_failed, lost.
struct TaskResult {
  std::string cause;
  int exit_code = 0;  // like a shell: 128+N for signal N
  int signal = 0;
  std::string killed_by;  // operator, deadline, policy (cause timeout or killed)
  std::string error;      // spawn_failed / lost: what happened
  double wall_ms = 0;
  uint64_t cpu_usec = 0;
  uint64_t memory_peak_bytes = 0;
  uint64_t oom_kills = 0;
  uint64_t stdout_bytes = 0, stderr_bytes = 0;
  bool stdout_truncated = false, stderr_truncated = false;
  std::string cleanup_error;  // non-empty while the sandbox could not be removed (stuck)
};
std::string result_to_json(const TaskResult& result);
Result<TaskResult> result_from_json(const std::string& text);

// A live service's health, kept in memory (GET shows it; a daemon restart starts it over).
struct HealthState {
  std::string status = "starting";  // starting, healthy, unhealthy
  int64_t failing_streak = 0;
  int64_t checks = 0;
  int last_exit_code = 0;   // 124 when the check timed out
  std::string last_output;  // its stdout and stderr, the last 4 KiB
  double last_at = 0;       // when it ended (seconds since the epoch)
  double last_duration_ms = 0;
};

// One row of the journal.
struct Task {
  std::string id;
  std::string agent;
  int64_t seq = 0;  // submission order
  TaskState state = TaskState::queued;
  std::string request_json;  // the TaskRequest as stored
  std::string tier;          // once admitted
  double submitted_at = 0, admitted_at = 0, started_at = 0, exited_at = 0, reaped_at = 0;
  pid_t pid = 0;                // the sandbox init, once created
  uint64_t pid_start_time = 0;  // its start time (/proc/PID/stat field 22)
  std::string kill_requested_by;
  std::optional<TaskResult> result;
  bool stuck = false;                 // killed, but its cgroup would not empty: reported, retried
  std::optional<HealthState> health;  // live tasks with a health command
  // The trust policy's decision, as JSON: {"tier","why","route","verified_by":[...]}
  // ("" when no trust policy applied).
  std::string trust_json;
};

// The task as the API returns it (GET /v1/tasks/{id}).
std::string task_to_json(const Task& task);

// Seconds since the epoch, with sub-millisecond precision.
double now_seconds();

}  // namespace clawcage::orchestrator
