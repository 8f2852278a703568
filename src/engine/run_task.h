// Runs one sandbox to completion: create, start, supervise (deadline, operator signals),
// find out why it ended, destroy. Used by `clawcage run`; the daemon will reuse it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/sandbox.h"

namespace clawcage::engine {

struct Supervision {
  int64_t timeout_ms = 0;        // 0: no deadline
  int64_t kill_grace_ms = 2000;  // SIGTERM first, then the cgroup is killed
  int signal_fd = -1;            // readable: the operator asked to stop (signalfd)
};

struct TaskRecord {
  std::string id;
  std::string tier;
  ExitCause cause = ExitCause::spawn_failed;
  int exit_code = 0;  // like a shell: 128+N for signal N
  int signal = 0;
  std::string killed_by;  // "deadline", "operator" when cause is timeout/killed
  std::string error;      // spawn_failed: what went wrong
  double wall_ms = 0;
  uint64_t cpu_usec = 0;
  uint64_t memory_peak_bytes = 0;
  uint64_t oom_kills = 0;
  uint64_t pids_peak = 0;
  SetupTimes setup;
  double teardown_ms = 0;  // kill, cgroup removal, state removal
  std::vector<std::string> controls;
  std::string cleanup_error;          // non-empty if anything could not be removed
  std::vector<std::string> warnings;  // best-effort controls this kernel could not apply
  std::string image_digest;           // the manifest mounted, when the task ran an image
  std::string trust_json;             // the trust policy's decision (JSON), if one applied
};

TaskRecord run_task(os::CgroupManager& cgroups, CreateOptions options,
                    const Supervision& supervision);
std::string record_to_json(const TaskRecord& record);

}  // namespace clawcage::engine
