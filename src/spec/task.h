// A task request as `clawcage run` (and later the daemon) takes it, turned into a base
// spec that a tier function then hardens.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "spec/spec.h"

namespace clawcage::spec {

struct Volume {
  std::string source;       // host path (already resolved by policy)
  std::string destination;  // absolute path in the sandbox
  bool readonly = true;
  bool exec = false;  // shared inputs are noexec unless asked
};

struct TaskOptions {
  std::string rootfs;
  // An image is shared by every task that runs it: read-only unless asked.
  bool writable_rootfs = false;
  // With writable_rootfs: the task writes a private overlay layer, never `rootfs` itself.
  bool overlay_rootfs = false;
  std::vector<std::string> args;
  std::vector<std::string> env;  // NAME=VALUE, on top of the defaults
  std::string cwd = "/";
  uint32_t uid = 0, gid = 0;
  std::vector<uint32_t> additional_gids;
  std::string hostname;
  std::vector<Volume> volumes;
  std::optional<std::string> output_dir;  // host dir, mounted at /output
  std::optional<int64_t> scratch_bytes;   // private tmpfs at /scratch
  std::optional<int64_t> memory_bytes;
  std::optional<int64_t> pids;
  std::optional<double> cpus;
  std::optional<int64_t> cpu_shares;  // relative weight when CPUs are contended (2..262144)
  std::string cpuset_cpus;            // pinned CPUs, e.g. "0-1"
};

Result<Spec> build_task_spec(const TaskOptions& options);

// "256M", "1G", "512k", "1048576" → bytes. Errors name `field`.
Result<int64_t> parse_size(const std::string& text, const std::string& field);
// "30s", "500ms", "2m", "1h", "10" (seconds) → milliseconds.
Result<int64_t> parse_duration_ms(const std::string& text, const std::string& field);

}  // namespace clawcage::spec
