// Helpers the orchestrator's files share (orchestrator.cc, supervise.cc, streams.cc,
// reconcile.cc, health.cc). Nothing outside src/orchestrator/ includes this.
#pragma once

#include <dirent.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "orchestrator/config.h"
#include "orchestrator/task.h"
#include "spec/task.h"

namespace clawcage::orchestrator::internal {

inline constexpr int kTickMs = 50;           // the supervision timer
inline constexpr double kTurnBudgetMs = 30;  // spawning per loop turn
inline constexpr auto kStuckRetry = std::chrono::seconds(5);

// Names in a directory, hidden ones left out; empty when it cannot be read.
inline std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> out;
  DIR* d = opendir(path.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') out.push_back(e->d_name);
  closedir(d);
  return out;
}

// The memory limit a task is admitted with (its own, or the daemon's default).
inline int64_t memory_of(const TaskRequest& r, const DaemonConfig& c) {
  auto m = spec::parse_size(r.memory.empty() ? c.default_memory : r.memory, "memory");
  return m ? *m : 0;
}

inline uint64_t file_size(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

}  // namespace clawcage::orchestrator::internal
