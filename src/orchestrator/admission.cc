#include "orchestrator/admission.h"

#include <dirent.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "base/files.h"

namespace clawcage::orchestrator {

void FairQueue::push(const std::string& agent, const std::string& id) {
  auto& q = queues_[agent];
  if (q.empty()) rotation_.push_back(agent);
  q.push_back(id);
  ++size_;
}

void FairQueue::push_front(const std::string& agent, const std::string& id) {
  auto& q = queues_[agent];
  if (q.empty()) rotation_.push_front(agent);
  q.push_front(id);
  ++size_;
}

std::optional<std::string> FairQueue::pop(
    const std::function<bool(const std::string& agent)>& eligible) {
  for (size_t turns = rotation_.size(); turns > 0; --turns) {
    std::string agent = rotation_.front();
    rotation_.pop_front();
    auto it = queues_.find(agent);
    if (it == queues_.end() || it->second.empty()) {
      if (it != queues_.end()) queues_.erase(it);
      continue;
    }
    if (!eligible(agent)) {
      rotation_.push_back(agent);
      continue;
    }
    std::string id = it->second.front();
    it->second.pop_front();
    --size_;
    if (it->second.empty())
      queues_.erase(it);
    else
      rotation_.push_back(agent);
    return id;
  }
  return std::nullopt;
}

bool FairQueue::remove(const std::string& agent, const std::string& id) {
  auto it = queues_.find(agent);
  if (it == queues_.end()) return false;
  auto pos = std::find(it->second.begin(), it->second.end(), id);
  if (pos == it->second.end()) return false;
  it->second.erase(pos);
  --size_;
  if (it->second.empty()) {
    queues_.erase(it);
    rotation_.erase(std::remove(rotation_.begin(), rotation_.end(), agent), rotation_.end());
  }
  return true;
}

size_t FairQueue::size(const std::string& agent) const {
  auto it = queues_.find(agent);
  return it == queues_.end() ? 0 : it->second.size();
}

namespace {

uint64_t meminfo_kb(const std::string& text, const char* key) {
  size_t pos = text.find(key);
  if (pos == std::string::npos) return 0;
  return std::strtoull(text.c_str() + pos + std::strlen(key), nullptr, 10);
}

// The pids cgroup (v1 or v2) this process is in, as a path under /sys/fs/cgroup.
std::string own_pids_cgroup() {
  auto text = read_file("/proc/self/cgroup");
  if (!text) return "";
  size_t pos = 0;
  while (pos < text->size()) {
    size_t nl = text->find('\n', pos);
    std::string line = text->substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text->size() : nl + 1;
    size_t c1 = line.find(':'), c2 = line.find(':', c1 + 1);
    if (c1 == std::string::npos || c2 == std::string::npos) continue;
    std::string controllers = line.substr(c1 + 1, c2 - c1 - 1);
    std::string path = line.substr(c2 + 1);
    if (controllers == "pids") return "/sys/fs/cgroup/pids" + path;
    if (controllers.empty() && line.compare(0, 2, "0:") == 0 &&
        path_exists("/sys/fs/cgroup/cgroup.controllers"))
      return "/sys/fs/cgroup" + path;
  }
  return "";
}

}  // namespace

Result<HostBudget> read_host_budget() {
  HostBudget b;
  TRY_ASSIGN(std::string pid_max, read_file("/proc/sys/kernel/pid_max"));
  b.pid_max = std::strtoull(pid_max.c_str(), nullptr, 10);
  // /proc/loadavg: "0.00 0.01 0.05 1/123 4567": the 4th field's denominator counts tasks.
  TRY_ASSIGN(std::string loadavg, read_file("/proc/loadavg"));
  size_t slash = loadavg.find('/');
  if (slash != std::string::npos)
    b.threads = std::strtoull(loadavg.c_str() + slash + 1, nullptr, 10);
  std::string cg = own_pids_cgroup();
  if (!cg.empty()) {
    auto max = read_file(cg + "/pids.max");
    auto cur = read_file(cg + "/pids.current");
    if (max && cur && max->compare(0, 3, "max") != 0) {
      b.pids_cgroup_max = std::strtoull(max->c_str(), nullptr, 10);
      b.pids_cgroup_current = std::strtoull(cur->c_str(), nullptr, 10);
    }
  }
  TRY_ASSIGN(std::string meminfo, read_file("/proc/meminfo"));
  b.mem_total = meminfo_kb(meminfo, "MemTotal:") * 1024;
  b.mem_available = meminfo_kb(meminfo, "MemAvailable:") * 1024;
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) b.fd_limit = rl.rlim_cur;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') ++b.fds_open;
    closedir(d);
  }
  return b;
}

}  // namespace clawcage::orchestrator
