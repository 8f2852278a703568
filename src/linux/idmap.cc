#include "linux/idmap.h"

#include "base/files.h"

namespace clawcage::os {

std::string format_id_map(const std::vector<spec::IdMapping>& maps) {
  std::string out;
  for (const auto& m : maps)
    out += std::to_string(m.container_id) + " " + std::to_string(m.host_id) + " " +
           std::to_string(m.size) + "\n";
  return out;
}

Result<void> write_id_maps(pid_t pid, const std::vector<spec::IdMapping>& uid_maps,
                           const std::vector<spec::IdMapping>& gid_maps) {
  std::string base = "/proc/" + std::to_string(pid) + "/";
  TRY(write_file(base + "uid_map", format_id_map(uid_maps)));
  TRY(write_file(base + "gid_map", format_id_map(gid_maps)));
  return ok();
}

std::optional<uint32_t> host_id(const std::vector<spec::IdMapping>& maps, uint32_t id) {
  for (const auto& m : maps)
    if (id >= m.container_id && id - m.container_id < m.size)
      return m.host_id + (id - m.container_id);
  return std::nullopt;
}

}  // namespace clawcage::os
