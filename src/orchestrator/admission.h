// Admission: a bounded queue with fair round-robin between agents, and the kernel budgets a
// task must fit in before it is admitted (PID headroom, memory, open files).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "base/result.h"

namespace clawcage::orchestrator {

// Queued task ids per agent, served round-robin: an agent with 10,000 queued tasks gets one
// turn in each round like an agent with 10, so it cannot starve it.
class FairQueue {
 public:
  void push(const std::string& agent, const std::string& id);
  // Puts an id back at the head of its agent's queue (admission had to wait).
  void push_front(const std::string& agent, const std::string& id);
  // The next id in round-robin order whose agent `eligible` accepts (agents at their quota
  // are skipped, keeping their place). nullopt when none is eligible.
  std::optional<std::string> pop(const std::function<bool(const std::string& agent)>& eligible);
  // Removes a queued id (a cancelled task); false when it is not queued.
  bool remove(const std::string& agent, const std::string& id);
  size_t size() const { return size_; }
  size_t size(const std::string& agent) const;

 private:
  std::map<std::string, std::deque<std::string>> queues_;
  std::deque<std::string> rotation_;  // agents with queued ids, next turn first
  size_t size_ = 0;
};

// What the host has now, read from the kernel.
struct HostBudget {
  uint64_t pid_max = 0;
  uint64_t threads = 0;                                   // tasks (threads) alive on the host
  uint64_t pids_cgroup_max = 0, pids_cgroup_current = 0;  // the daemon's pids cgroup; 0: none
  uint64_t mem_total = 0, mem_available = 0;
  uint64_t fd_limit = 0, fds_open = 0;  // of this process
};
Result<HostBudget> read_host_budget();

}  // namespace clawcage::orchestrator
