#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include <linux/sched.h>
#include <sched.h>

#include <chrono>

#include "base/files.h"
#include "engine/create_internal.h"
#include "engine/hooks.h"
#include "engine/process_plan.h"
#include "engine/sandbox.h"
#include "linux/contain.h"
#include "linux/idmap.h"
#include "spec/parse.h"
#include "spec/validate.h"

namespace clawcage::engine {

namespace detail {

Result<std::string> resolve_rootfs(const CreateOptions& o) {
  std::string path = o.spec.root.path;
  if (path.front() != '/') path = o.bundle_dir + "/" + path;
  char* real = realpath(path.c_str(), nullptr);
  if (!real) return system_error("root.path", path);
  std::string out(real);
  free(real);
  struct stat st;
  if (stat(out.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return invalid_field("root.path", out + " is not a directory");
  if (out == "/") return invalid_field("root.path", "the host's / cannot be a sandbox rootfs");
  return out;
}

}  // namespace detail

namespace {

using detail::Clock;
using detail::ms_since;

// Turns the spec into everything the child needs, before anything is created.
Result<os::InitPlan> prepare_init_plan(const CreateOptions& o, std::vector<std::string>& warnings) {
  const spec::Spec& s = o.spec;
  os::InitPlan plan;
  TRY_ASSIGN(plan.rootfs, detail::resolve_rootfs(o));
  auto sw = s.annotations.find(spec::kRootSwitchAnnotation);
  plan.pivot_root = sw == s.annotations.end() || sw->second != "chroot";
  plan.readonly_root = s.root.readonly;
  plan.user_namespace = s.has_namespace("user");
  plan.cgroup_namespace = s.has_namespace("cgroup");
  plan.hostname = s.hostname;
  plan.sysctls.assign(s.linux.sysctl.begin(), s.linux.sysctl.end());
  TRY_ASSIGN(plan.mounts, os::plan_mounts(s));
  TRY(os::open_mount_sources(plan.mounts));
  TRY(plan_process(s, plan, warnings));
  for (int i = 0; i < 3; ++i) plan.stdio_fds[i] = o.stdio_fds[i];
  plan.die_with_parent = o.die_with_parent;
  if (o.preserve_fds < 0 || o.preserve_fds > 1024)
    return invalid_field("preserve-fds",
                         "expected 0 to 1024, got " + std::to_string(o.preserve_fds));
  for (int fd = 3; fd < 3 + o.preserve_fds; ++fd)
    if (fcntl(fd, F_GETFD) < 0)
      return invalid_field("preserve-fds", "fd " + std::to_string(fd) + " is not open");
  plan.preserve_fds = o.preserve_fds;
  const spec::Hooks& h = s.hooks;
  plan.hook_sync = !h.prestart.empty() || !h.create_runtime.empty() ||
                   !h.create_container.empty() || !h.start_container.empty();
  plan.create_container_hooks = detail::hook_commands(h.create_container, "createContainer");
  plan.start_container_hooks = detail::hook_commands(h.start_container, "startContainer");
  return plan;
}

uint64_t clone_flags(const spec::Spec& s) {
  uint64_t flags = 0;
  // The user namespace is entered by the init itself, last (see contain.cc).
  if (s.has_namespace("mount")) flags |= CLONE_NEWNS;
  if (s.has_namespace("pid")) flags |= CLONE_NEWPID;
  if (s.has_namespace("network")) flags |= CLONE_NEWNET;
  if (s.has_namespace("ipc")) flags |= CLONE_NEWIPC;
  if (s.has_namespace("uts")) flags |= CLONE_NEWUTS;
  // Handlers of the runtime are not the sandbox's.
  flags |= CLONE_CLEAR_SIGHAND;
  return flags;
}

}  // namespace

Result<void> check_sandbox_id(const std::string& id) {
  if (id.empty() || id.size() > 64) return invalid_field("task", "must be 1 to 64 characters");
  for (size_t i = 0; i < id.size(); ++i) {
    char c = id[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '-' && c != '_' && c != '.')))
      return invalid_field("task", "\"" + id +
                                       "\" may hold only letters, digits, '-', '_' and '.', and "
                                       "starts with a letter or digit");
  }
  return ok();
}

Result<void> Sandbox::claim_state_dir(const CreateOptions& o,
                                      const std::function<Result<void>(const std::string&)>& fill) {
  TRY(make_dirs(o.state_root, 0711));
  // Built under a hidden name and renamed into place without replacing anything, so gc
  // never sees a state dir without its state, and two creates of one id cannot both win.
  state_dir_ = o.state_root + "/." + o.id + "." + std::to_string(getpid());
  if (mkdir(state_dir_.c_str(), 0700) != 0) {
    Error e = system_error("mkdir", state_dir_);
    state_dir_.clear();
    return e;
  }
  TRY(write_state());
  TRY(fill(state_dir_));
  std::string final_dir = o.state_root + "/" + o.id;
  if (renameat2(AT_FDCWD, state_dir_.c_str(), AT_FDCWD, final_dir.c_str(), RENAME_NOREPLACE) != 0) {
    Error e = system_error("claim state dir", final_dir);
    if (e.code == EEXIST) e.detail = "a sandbox named " + o.id + " exists";
    return e;  // destroying the sandbox removes the hidden dir
  }
  state_dir_ = final_dir;
  return ok();
}

Result<Sandbox> Sandbox::create(os::CgroupManager& cgroups, CreateOptions o) {
  auto t0 = Clock::now();
  TRY(check_sandbox_id(o.id));
  TRY(spec::validate_spec(o.spec));
  if (runs_under_runsc(o.spec)) return create_under_runsc(cgroups, std::move(o));
  Sandbox sb;
  TRY_ASSIGN(os::InitPlan plan, prepare_init_plan(o, sb.warnings_));
  sb.id_ = o.id;
  sb.detached_ = o.detached;
  sb.annotations_ = o.spec.annotations;
  {
    char* real = realpath(o.bundle_dir.c_str(), nullptr);
    sb.bundle_ = real ? real : o.bundle_dir;
    free(real);
  }
  sb.times_.prepare_ms = ms_since(t0);

  // The state dir comes first: it claims the id, and `clawcage gc` spares a sandbox whose
  // owner (this process) is alive even before its cgroup or init exists.
  TRY(sb.claim_state_dir(o, [&](const std::string& dir) -> Result<void> {
    // What an exec into the sandbox needs (its process, seccomp, Landlock), as created.
    if (o.keep_config) TRY(create_file(dir + "/config.json", spec::to_json(o.spec, -1), 0600));
    return ok();
  }));
  std::string final_dir = sb.state_dir_;
  // From here a failure is "continue at delete" (runtime.md): poststop hooks run too.
  sb.hooks_ = o.spec.hooks;
  sb.oci_version_ = o.spec.oci_version;
  auto overlay = o.spec.annotations.find(spec::kRootOverlayAnnotation);
  if (overlay != o.spec.annotations.end() && overlay->second == "true" && !o.spec.root.readonly) {
    if (!o.spec.has_namespace("mount"))
      return invalid_field("annotations", "an overlay rootfs needs a mount namespace");
    if (plan.rootfs.find_first_of(",:") != std::string::npos ||
        final_dir.find_first_of(",:") != std::string::npos)
      return invalid_field("root.path",
                           plan.rootfs + ": an overlay rootfs path may not hold ',' or ':'");
    // The upper layer's root takes the lower root's owner and mode: the merged root looks
    // like the image's.
    struct stat root_st;
    if (stat(plan.rootfs.c_str(), &root_st) != 0) return system_error("stat", plan.rootfs);
    plan.overlay_dir = final_dir + "/overlay";
    for (const char* sub : {"", "/upper", "/work"}) {
      std::string d = plan.overlay_dir + sub;
      if (mkdir(d.c_str(), 0700) != 0) return system_error("mkdir", d);
    }
    std::string upper = plan.overlay_dir + "/upper";
    if (chown(upper.c_str(), root_st.st_uid, root_st.st_gid) != 0 ||
        chmod(upper.c_str(), root_st.st_mode & 07777) != 0)
      return system_error("set owner of", upper);
  }
  UniqueFd exec_fifo;
  if (o.detached) {
    std::string fifo = final_dir + "/exec.fifo";
    if (mkfifo(fifo.c_str(), 0600) != 0) return system_error("mkfifo", fifo);
    // The init reopens it after its switch to the sandbox's user: it must own it.
    auto uid = os::host_id(o.spec.linux.uid_mappings, o.spec.process.user.uid);
    auto gid = os::host_id(o.spec.linux.gid_mappings, o.spec.process.user.gid);
    if (chown(fifo.c_str(), uid.value_or(o.spec.process.user.uid),
              gid.value_or(o.spec.process.user.gid)) != 0)
      return system_error("chown", fifo);
    exec_fifo.reset(::open(fifo.c_str(), O_PATH | O_CLOEXEC));
    if (!exec_fifo) return system_error("open", fifo);
    plan.exec_fifo_fd = exec_fifo.get();
  }

  auto t1 = Clock::now();
  TRY_ASSIGN(sb.cgroup_, cgroups.create(o.id, o.spec.linux.resources));
  sb.times_.cgroup_ms = ms_since(t1);
  // From here on, a failure destroys `sb`, which kills and removes what exists so far.

  auto t2 = Clock::now();
  TRY_ASSIGN(auto channels, os::SyncChannel::make_pair());
  sb.channel_ = std::move(channels.first);
  const os::SyncChannel& child_end = channels.second;
  os::CloneOptions clone;
  clone.flags = clone_flags(o.spec);
  clone.cgroup_fd = sb.cgroup_->clone_into_fd();
  TRY_ASSIGN(sb.init_, os::spawn_process(clone, [&]() {
               sb.channel_.close();
               return os::run_sandbox_init(plan, child_end);
             }));
  channels.second.close();
  exec_fifo.reset();
  sb.cgroup_->close_clone_fd();
  sb.times_.clone_ms = ms_since(t2);

  auto t3 = Clock::now();
  TRY(sb.cgroup_->add_process(sb.init_.pid())
          .context("placing sandbox " + o.id + " in its cgroup"));
  TRY(sb.channel_.send(os::SyncMessage::go));
  constexpr int kSetupTimeoutMs = 30000;
  int setup_timeout_ms = kSetupTimeoutMs;
  if (plan.hook_sync) {
    TRY(sb.channel_.expect(os::SyncMessage::mounts_ready, sb.init_.pidfd(), kSetupTimeoutMs)
            .context("creating sandbox " + o.id));
    // In the runtime's namespaces, as its children: the init waits before pivot_root.
    std::string state = detail::hook_state_json(o.spec.oci_version, o.id, "creating",
                                                sb.init_.pid(), sb.bundle_, sb.annotations_);
    TRY(os::run_hooks(detail::hook_commands(o.spec.hooks.prestart, "prestart"), state)
            .context("creating sandbox " + o.id));
    TRY(os::run_hooks(detail::hook_commands(o.spec.hooks.create_runtime, "createRuntime"), state)
            .context("creating sandbox " + o.id));
    TRY(sb.channel_.send(os::SyncMessage::hook_state, 0, state));
    // The init runs createContainer next: its timeouts lengthen the wait.
    setup_timeout_ms = detail::hooks_budget_ms(o.spec.hooks.create_container, kSetupTimeoutMs);
  }
  if (plan.user_namespace) {
    TRY(sb.channel_.expect(os::SyncMessage::userns_ready, sb.init_.pidfd(), setup_timeout_ms)
            .context("creating sandbox " + o.id));
    TRY(os::write_id_maps(sb.init_.pid(), o.spec.linux.uid_mappings, o.spec.linux.gid_mappings));
    TRY(sb.channel_.send(os::SyncMessage::maps_written));
  }
  TRY(sb.channel_.expect(os::SyncMessage::ready, sb.init_.pidfd(), setup_timeout_ms)
          .context("creating sandbox " + o.id));
  sb.times_.init_ms = ms_since(t3);
  TRY(sb.write_state());
  sb.status_ = Status::created;
  return sb;
}

}  // namespace clawcage::engine
