#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "base/files.h"
#include "engine/hooks.h"
#include "engine/sandbox.h"
#include "spec/parse.h"

namespace clawcage::engine {

const char* exit_cause_name(ExitCause cause) {
  switch (cause) {
    case ExitCause::exited:
      return "exited";
    case ExitCause::signaled:
      return "signaled";
    case ExitCause::oom_killed:
      return "oom_killed";
    case ExitCause::timeout:
      return "timeout";
    case ExitCause::killed:
      return "killed";
    case ExitCause::spawn_failed:
      return "spawn_failed";
  }
  return "unknown";
}

Result<void> Sandbox::destroy() {
  if (destroyed_) return ok();
  Result<void> result;
  if (cgroup_) {
    // Kill through the cgroup first: the init's death alone leaves double-forked children
    // of a chroot-tier task (no pid namespace) alive.
    result = cgroup_->destroy().context("destroying sandbox " + id_);
  }
  // Reap the init (the ChildProcess destructor SIGKILLs and reaps if still alive).
  init_ = os::ChildProcess();
  channel_.close();
  if (!state_dir_.empty()) {
    auto removed = remove_state_dir(state_dir_);
    if (!removed && result.ok()) result = std::move(removed);
  }
  destroyed_ = result.ok();
  status_ = Status::stopped;
  if (!hooks_.poststop.empty()) {
    // After the sandbox is gone, before delete returns (runtime.md step 12); once only.
    std::vector<spec::Hook> poststop = std::move(hooks_.poststop);
    hooks_.poststop.clear();
    detail::run_hooks_warning(
        poststop, "poststop",
        detail::hook_state_json(oci_version_, id_, "stopped", 0, bundle_, annotations_), warnings_);
  }
  return result;
}

void Sandbox::detach() {
  if (cgroup_) cgroup_->release();
  init_.release();
  channel_.close();
  destroyed_ = true;  // the destructor leaves everything to later processes
}

namespace {

// Empties and removes one subdir of a state dir (runsc's --root holds only its own
// <id>_sandbox:<id>.state and .lock files; bundle/ our config.json). Entries are removed
// relative to a directory fd opened without following links: nothing outside is touched.
Result<void> remove_flat_dir(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return ok();
    return system_error("open", path);
  }
  DIR* d = fdopendir(fd);
  if (!d) {
    Error e = system_error("opendir", path);
    close(fd);
    return e;
  }
  Result<void> result;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    bool is_dir = e->d_type == DT_DIR;
    if (unlinkat(dirfd(d), name.c_str(), is_dir ? AT_REMOVEDIR : 0) != 0 && errno != ENOENT &&
        result.ok())
      result = system_error("unlink", path + "/" + name);
  }
  closedir(d);
  TRY(std::move(result));
  if (rmdir(path.c_str()) != 0 && errno != ENOENT) return system_error("rmdir", path);
  return ok();
}

}  // namespace

Result<void> remove_state_dir(const std::string& dir) {
  // The gvisor tier's runsc bundle and runsc --root (see gvisor.cc).
  // (volumes/ is empty on the host: its mounts lived in runsc's own mount namespace.)
  for (const char* sub : {"/bundle", "/runsc", "/volumes"}) TRY(remove_flat_dir(dir + sub));
  for (const char* f : {"/exec.fifo", "/state.json", "/state.json.tmp", "/config.json"})
    if (unlink((dir + f).c_str()) != 0 && errno != ENOENT) return system_error("unlink", dir + f);
  // A writable image root's private layer (the overlay is gone with the sandbox's mount
  // namespace; what it wrote stays here until now).
  if (path_exists(dir + "/overlay")) remove_tree(dir + "/overlay");
  if (rmdir(dir.c_str()) != 0 && errno != ENOENT) return system_error("rmdir", dir);
  return ok();
}

int remove_abandoned_claims(const std::string& state_root, const std::string& only_id) {
  int removed = 0;
  DIR* d = opendir(state_root.c_str());
  if (!d) return 0;
  std::vector<std::string> names;
  while (dirent* e = readdir(d))
    if (e->d_name[0] == '.' && e->d_name[1] != '\0' && e->d_name[1] != '.')
      names.push_back(e->d_name);
  closedir(d);
  for (const auto& name : names) {
    size_t dot = name.rfind('.');
    if (dot == 0 || dot == std::string::npos) continue;
    std::string id = name.substr(1, dot - 1);
    pid_t pid = static_cast<pid_t>(std::atol(name.c_str() + dot + 1));
    if (!only_id.empty() && id != only_id) continue;
    if (pid > 0 && ::kill(pid, 0) == 0) continue;  // its creator still runs
    if (remove_state_dir(state_root + "/" + name)) ++removed;
  }
  return removed;
}

Result<void> delete_detached(os::CgroupManager& cgroups, const std::string& state_root,
                             const std::string& id, bool force,
                             std::vector<std::string>* warnings) {
  TRY_ASSIGN(SandboxState st, load_state(state_root, id));
  if ((st.status == "running" || st.status == "created" || st.status == "creating") && !force)
    return make_error("delete", id, "sandbox is " + st.status + " (kill it first, or --force)");
  // The poststop hooks come from the config kept in the state dir; read before it goes.
  std::optional<spec::Spec> kept;
  std::string config = state_root + "/" + id + "/config.json";
  if (path_exists(config)) {
    auto s = spec::load_spec_file(config);
    if (s) kept = std::move(s).value();
  }
  auto cg = cgroups.open(id);
  if (cg) TRY((*cg)->destroy().context("deleting sandbox " + id));
  TRY(remove_state_dir(state_root + "/" + id));
  if (kept && !kept->hooks.poststop.empty()) {
    std::vector<std::string> failed;
    detail::run_hooks_warning(
        kept->hooks.poststop, "poststop",
        detail::hook_state_json(kept->oci_version, id, "stopped", 0, st.bundle, st.annotations),
        failed);
    if (warnings) warnings->insert(warnings->end(), failed.begin(), failed.end());
  }
  return ok();
}

Sandbox::Sandbox(Sandbox&& o) noexcept {
  *this = std::move(o);
}

Sandbox& Sandbox::operator=(Sandbox&& o) noexcept {
  if (this == &o) return *this;
  if (!id_.empty() && !destroyed_) (void)destroy();
  id_ = std::move(o.id_);
  state_dir_ = std::move(o.state_dir_);
  bundle_ = std::move(o.bundle_);
  annotations_ = std::move(o.annotations_);
  detached_ = o.detached_;
  cgroup_ = std::move(o.cgroup_);
  init_ = std::move(o.init_);
  channel_ = std::move(o.channel_);
  status_ = o.status_;
  times_ = o.times_;
  warnings_ = std::move(o.warnings_);
  destroyed_ = o.destroyed_;
  runsc_ = std::move(o.runsc_);
  hooks_ = std::move(o.hooks_);
  oci_version_ = std::move(o.oci_version_);
  o.id_.clear();
  o.state_dir_.clear();
  o.destroyed_ = true;
  return *this;
}

Sandbox::~Sandbox() {
  if (!id_.empty()) (void)destroy();
}

}  // namespace clawcage::engine
