// clawcage gc: removes what crashed runs left behind, found from the kernel side by name:
// cgroups under clawcage/ and state dirs under /run/clawcage whose init is gone.
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

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
bool sandbox_alive(const std::string& root, const std::string& id) {
  auto st = engine::load_state(root, id);
  return st && st->status != "stopped";
}

std::vector<std::string> state_dirs(const std::string& root) {
  std::vector<std::string> out;
  DIR* d = opendir(root.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.' && e->d_type == DT_DIR) out.push_back(e->d_name);  // not api.sock
  closedir(d);
  return out;
}

// Kills and removes one sandbox by name, whatever state it is in.
Result<void> remove_sandbox(os::CgroupManager& mgr, const std::string& root,
                            const std::string& id) {
  if (engine::load_state(root, id)) return engine::delete_detached(mgr, root, id, true);
  // No readable state (a crash before it was written): whatever carries the name.
  auto cg = mgr.open(id);
  if (cg) TRY((*cg)->destroy());
  return engine::remove_state_dir(root + "/" + id);
}

int gc(bool dry_run, const std::string& reap, bool parents, const std::string& root) {
  if (root.empty() || root.front() != '/') {
    std::cerr << "clawcage gc: --root: must be an absolute path\n";
    return 125;
  }
  auto mgr = os::CgroupManager::detect("/sys/fs/cgroup", oci_cgroup_parent(root));
  if (!mgr) {
    std::cerr << "clawcage gc: " << mgr.error().message() << "\n";
    return 125;
  }
  if (!reap.empty()) {
    // The cleanup guard of a runner that died: this sandbox goes, live or not.
    engine::remove_abandoned_claims(root, reap);
    auto r = remove_sandbox(**mgr, root, reap);
    if (!r) std::cerr << "clawcage gc: " << r.error().message() << "\n";
    return r ? 0 : 1;
  }
  std::set<std::string> ids;
  for (const auto& n : (*mgr)->list()) ids.insert(n);
  for (const auto& n : state_dirs(root)) ids.insert(n);
  int failures = 0, removed = 0;
  for (const auto& id : ids) {
    if (sandbox_alive(root, id)) continue;
    if (dry_run) {
      std::cout << "would remove " << id << "\n";
      continue;
    }
    auto r = remove_sandbox(**mgr, root, id);
    if (!r) {
      std::cerr << "clawcage gc: " << r.error().message() << "\n";
      ++failures;
      continue;
    }
    std::cout << "removed " << id << "\n";
    ++removed;
  }
  if (!dry_run) removed += engine::remove_abandoned_claims(root);
  if (!dry_run && parents) (*mgr)->remove_empty_parents();
  std::cout << "gc: " << removed << " removed, " << failures << " failed\n";
  return failures ? 1 : 0;
}

}  // namespace

void add_gc_command(CLI::App& app, int& exit_code) {
  auto dry = std::make_shared<bool>(false);
  auto reap = std::make_shared<std::string>();
  auto parents = std::make_shared<bool>(false);
  auto root = std::make_shared<std::string>(kStateRoot);
  CLI::App* c = app.add_subcommand("gc", "remove leftovers of crashed runs (cgroups, state)");
  c->add_flag("--dry-run", *dry, "only list what would be removed");
  c->add_option("--reap", *reap, "remove this sandbox now, even if its init still runs");
  c->add_flag("--parents", *parents,
              "also remove the empty clawcage/ cgroup parents (only while nothing starts)");
  c->add_option("--root", *root,
                "the OCI state root whose sandboxes to collect (default /run/clawcage; "
                "`clawcage oci --root DIR` puts its cgroups under clawcage-root-<hash>)");
  c->callback(
      [dry, reap, parents, root, &exit_code]() { exit_code = gc(*dry, *reap, *parents, *root); });
}

}  // namespace clawcage::cli
