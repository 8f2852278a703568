// CPUs for tasks when tasks outnumber cores: every task shares the pool by weight, unless it
// asks for exclusive cores. Those are granted from the pool while free (a clear refusal
// otherwise), and every other task is moved off them while they are held.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>

#include "base/result.h"

namespace clawcage::orchestrator {

// "0-3,6" <-> {0,1,2,3,6}
Result<std::set<int>> parse_cpu_list(const std::string& text, const std::string& field);
std::string format_cpu_list(const std::set<int>& cpus);
// /sys/devices/system/cpu/online
Result<std::set<int>> online_cpus();

class CpuPool {
 public:
  CpuPool() = default;
  // min_shared cores are never pinned, so shared tasks always have somewhere to run.
  CpuPool(std::set<int> all, size_t min_shared) : all_(std::move(all)), min_shared_(min_shared) {}

  size_t pinnable() const { return all_.size() > min_shared_ ? all_.size() - min_shared_ : 0; }
  size_t free() const;
  // Holds n cores for a queued task (which ones is decided when it is spawned).
  bool reserve(const std::string& id, size_t n);
  // The cores of a reserved task, now taken.
  std::set<int> pin(const std::string& id);
  // A task found running with these cores (after a daemon restart).
  void adopt(const std::string& id, const std::set<int>& cpus);
  // Returns true when the task held pinned cores (the shared set grew).
  bool release(const std::string& id);
  // The cores tasks without exclusive cores may use now.
  std::set<int> shared() const;
  // "t1 (cpu 1), t2 (reserved 1)" for refusals.
  std::string holders() const;

 private:
  std::set<int> all_;
  size_t min_shared_ = 1;
  std::map<std::string, size_t> reserved_;
  std::map<std::string, std::set<int>> pinned_;
};

}  // namespace clawcage::orchestrator
