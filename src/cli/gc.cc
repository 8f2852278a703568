// clawcage gc: removes what crashed runs left behind, found from the kernel side by name:
// cgroups under clawcage/ and state dirs under /run/clawcage whose init is gone.
#include <dirent.h>
#include <signal.h>

#include <iostream>
#include <set>

#include "base/files.h"
#include "cli/commands.h"
#include "engine/sandbox.h"
#include "linux/cgroup.h"

namespace clawcage::cli {

namespace {

// A sandbox is live while its owner (the runner that created it) or its init still runs,
// each checked by pid and start time (engine::load_state).
bool sandbox_alive(const std::string& id) {
  auto st = engine::load_state(kStateRoot, id);
  return st && st->status != "stopped";
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
