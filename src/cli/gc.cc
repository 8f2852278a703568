// clawcage gc: removes what crashed runs left behind, found from the kernel side by name:
// cgroups under clawcage/ and state dirs under /run/clawcage whose init is gone.
#include <dirent.h>
#include <signal.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "base/files.h"
#include "cli/commands.h"
#include "linux/cgroup.h"
#include "linux/process.h"

namespace clawcage::cli {

namespace {

bool process_matches(const nlohmann::json& j, const char* pid_key, const char* start_key) {
  if (!j.contains(pid_key) || !j.contains(start_key)) return false;
  auto start = os::process_start_time(j[pid_key].get<pid_t>());
  return start && *start == j[start_key].get<uint64_t>();
}

// A sandbox is live while its owner (the runner that created it) or its init still runs:
// each is checked by pid and start time, so a reused pid does not count.
bool sandbox_alive(const std::string& id) {
  auto text = read_file(std::string(kStateRoot) + "/" + id + "/state.json");
  if (!text) {
    // No state yet: a sandbox being created claims its state dir before anything else,
    // so this is either a crash leftover or a create that has not begun. Only a cgroup
    // that holds processes is spared.
    return false;
  }
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded()) return false;
  return process_matches(j, "owner_pid", "owner_start_time") || process_matches(j, "pid", "start_time");
}

std::vector<std::string> state_dirs() {
  std::vector<std::string> out;
  DIR* d = opendir(kStateRoot);
  if (!d) return out;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') out.push_back(e->d_name);
  closedir(d);
  return out;
}

int gc(bool dry_run) {
  auto mgr = os::CgroupManager::detect();
  if (!mgr) {
    std::cerr << "clawcage gc: " << mgr.error().message() << "\n";
    return 125;
  }
  std::set<std::string> ids;
  for (const auto& n : (*mgr)->list()) ids.insert(n);
  for (const auto& n : state_dirs()) ids.insert(n);
  int failures = 0, removed = 0;
  for (const auto& id : ids) {
    if (sandbox_alive(id)) continue;
    if (dry_run) {
      std::cout << "would remove " << id << "\n";
      continue;
    }
    auto cg = (*mgr)->open(id);
    if (cg) {
      auto d = (*cg)->destroy();
      if (!d) {
        std::cerr << "clawcage gc: " << d.error().message() << "\n";
        ++failures;
        continue;
      }
    }
    std::string dir = std::string(kStateRoot) + "/" + id;
    unlink((dir + "/state.json").c_str());
    unlink((dir + "/state.json.tmp").c_str());
    rmdir(dir.c_str());
    std::cout << "removed " << id << "\n";
    ++removed;
  }
  std::cout << "gc: " << removed << " removed, " << failures << " failed\n";
  return failures ? 1 : 0;
}

}  // namespace

void add_gc_command(CLI::App& app, int& exit_code) {
  auto dry = std::make_shared<bool>(false);
  CLI::App* c = app.add_subcommand("gc", "remove leftovers of crashed runs (cgroups, state)");
  c->add_flag("--dry-run", *dry, "only list what would be removed");
  c->callback([dry, &exit_code]() { exit_code = gc(*dry); });
}

}  // namespace clawcage::cli
