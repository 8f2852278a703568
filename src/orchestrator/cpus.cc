#include "orchestrator/cpus.h"

#include <cstdlib>

#include "base/files.h"

namespace clawcage::orchestrator {

Result<std::set<int>> parse_cpu_list(const std::string& text, const std::string& field) {
  std::set<int> out;
  size_t pos = 0;
  std::string t = trim(text);
  while (pos < t.size()) {
    size_t comma = t.find(',', pos);
    std::string item = t.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? t.size() : comma + 1;
    char* end = nullptr;
    long a = std::strtol(item.c_str(), &end, 10);
    long b = a;
    if (end != item.c_str() && *end == '-') {
      const char* second = end + 1;
      b = std::strtol(second, &end, 10);
      if (end == second) b = -1;
    }
    if (item.empty() || end == item.c_str() || *end || a < 0 || b < a || b > 4095)
      return invalid_field(field, "expected a CPU list like 0-3,6, got \"" + text + "\"");
    for (long c = a; c <= b; ++c) out.insert(static_cast<int>(c));
  }
  if (out.empty()) return invalid_field(field, "names no CPU");
  return out;
}

std::string format_cpu_list(const std::set<int>& cpus) {
  std::string out;
  for (auto it = cpus.begin(); it != cpus.end();) {
    int first = *it, last = *it;
    for (++it; it != cpus.end() && *it == last + 1; ++it) last = *it;
    if (!out.empty()) out += ",";
    out += std::to_string(first);
    if (last != first) out += "-" + std::to_string(last);
  }
  return out;
}

Result<std::set<int>> online_cpus() {
  TRY_ASSIGN(std::string text, read_file("/sys/devices/system/cpu/online"));
  return parse_cpu_list(text, "/sys/devices/system/cpu/online");
}

size_t CpuPool::free() const {
  size_t used = 0;
  for (const auto& [id, n] : reserved_) used += n;
  for (const auto& [id, cpus] : pinned_) used += cpus.size();
  return pinnable() > used ? pinnable() - used : 0;
}

bool CpuPool::reserve(const std::string& id, size_t n) {
  if (n == 0 || n > free()) return false;
  reserved_[id] = n;
  return true;
}

std::set<int> CpuPool::pin(const std::string& id) {
  auto it = reserved_.find(id);
  if (it == reserved_.end()) return {};
  size_t n = it->second;
  reserved_.erase(it);
  std::set<int> taken;
  for (const auto& [other, cpus] : pinned_) taken.insert(cpus.begin(), cpus.end());
  // Highest cores first: the shared tasks keep the low ones, where the host's own work
  // usually runs.
  std::set<int> out;
  for (auto c = all_.rbegin(); c != all_.rend() && out.size() < n; ++c)
    if (!taken.count(*c)) out.insert(*c);
  pinned_[id] = out;
  return out;
}

void CpuPool::adopt(const std::string& id, const std::set<int>& cpus) {
  pinned_[id] = cpus;
}

bool CpuPool::release(const std::string& id) {
  reserved_.erase(id);
  return pinned_.erase(id) > 0;
}

std::set<int> CpuPool::shared() const {
  std::set<int> out = all_;
  for (const auto& [id, cpus] : pinned_)
    for (int c : cpus) out.erase(c);
  return out;
}

std::string CpuPool::holders() const {
  std::string out;
  for (const auto& [id, cpus] : pinned_)
    out += (out.empty() ? "" : ", ") + id + " (cpu " + format_cpu_list(cpus) + ")";
  for (const auto& [id, n] : reserved_)
    out += (out.empty() ? "" : ", ") + id + " (queued, " + std::to_string(n) + ")";
  return out.empty() ? "none" : out;
}

}  // namespace clawcage::orchestrator
