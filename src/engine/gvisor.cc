// The gvisor tier's sandbox: the same lifecycle and the same kernel resources as a native
// one (cgroup clawcage/<id>, state dir <state_root>/<id>), but the init becomes
// `runsc run`. The state dir holds runsc's bundle (bundle/config.json, the tiered spec with
// its rootfs made absolute) and its --root (runsc/), so both go with the state dir.
//
// runsc is cloned straight into the sandbox's cgroup (CLONE_INTO_CGROUP, and the v1
// hierarchies before `go`) and runs with --ignore-cgroups: its sandbox (sentry), gofer and
// ptrace stubs are forked inside that cgroup, so the cgroup's memory and pids limits bound the
// whole gVisor sandbox, its OOM counter sees the sentry die, and cgroup.kill ends it all. No
// runsc process or runsc-made cgroup can outlive the sandbox's cgroup, and the mounts runsc
// makes live in its processes' own mount namespaces.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/openat2.h>
#include <linux/sched.h>

#include <nlohmann/json.hpp>

#include "base/files.h"
#include "engine/create_internal.h"
#include "engine/sandbox.h"
#include "linux/mount_plan.h"
#include "spec/parse.h"
#include "spec/validate.h"

namespace clawcage::engine {

namespace {

// The spec runsc gets: rootfs and bind sources absolute (runsc resolves them from its own
// working directory otherwise), cgroupsPath dropped (clawcage owns the cgroup).
Result<spec::Spec> runsc_config(const CreateOptions& o) {
  spec::Spec config = o.spec;
  TRY_ASSIGN(config.root.path, detail::resolve_rootfs(o));
  config.linux.cgroups_path.clear();
  for (size_t i = 0; i < config.mounts.size(); ++i) {
    spec::Mount& m = config.mounts[i];
    bool bind = m.type == "bind" || m.type.empty();
    for (const auto& opt : m.options) bind |= opt == "bind" || opt == "rbind";
    if (!bind) continue;
    if (m.source.empty() || m.source.front() != '/') m.source = o.bundle_dir + "/" + m.source;
    // Checked here, before anything exists, so a missing volume names its field rather than
    // failing inside runsc's gofer. A policy-checked source ("x-clawcage-nofollow", a
    // clawcage option runsc does not know) is opened as the native tiers open it: no
    // symlink on the way. runsc's gofer then opens the same path again (see README: limits).
    std::string field = "mounts[" + std::to_string(i) + "].source";
    bool nofollow = std::erase(m.options, std::string(os::kNoFollowOption)) > 0;
    open_how how{};
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = nofollow ? RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS : 0;
    UniqueFd fd(
        static_cast<int>(syscall(SYS_openat2, AT_FDCWD, m.source.c_str(), &how, sizeof how)));
    if (!fd) return system_error(field, m.source);
  }
  return config;
}

}  // namespace

bool runs_under_runsc(const spec::Spec& s) {
  auto t = s.annotations.find(spec::kTierAnnotation);
  return t != s.annotations.end() && t->second == "gvisor";
}

Result<Sandbox> Sandbox::create_under_runsc(os::CgroupManager& cgroups, CreateOptions o) {
  auto t0 = detail::Clock::now();
  if (o.detached)
    return invalid_field("isolate",
                         "tier gvisor runs attached only: the OCI create/start front "
                         "does not support it");
  if (o.preserve_fds) return invalid_field("preserve-fds", "not supported for tier gvisor");
  // runsc must exist before anything is created: without it there is nothing to clean up.
  TRY_ASSIGN(os::Runsc runsc, os::locate_runsc(o.gvisor_platform).context("tier gvisor"));
  TRY_ASSIGN(spec::Spec config, runsc_config(o));
  std::string config_json = spec::to_json(config, -1);

  Sandbox sb;
  sb.id_ = o.id;
  sb.annotations_ = o.spec.annotations;
  sb.runsc_ = runsc;
  {
    char* real = realpath(o.bundle_dir.c_str(), nullptr);
    sb.bundle_ = real ? real : o.bundle_dir;
    free(real);
  }
  sb.times_.prepare_ms = detail::ms_since(t0);

  TRY(sb.claim_state_dir(o, [&](const std::string& dir) -> Result<void> {
    std::string bundle = dir + "/bundle";
    if (mkdir(bundle.c_str(), 0700) != 0) return system_error("mkdir", bundle);
    TRY(create_file(bundle + "/config.json", config_json, 0600));
    std::string root = dir + "/runsc";
    if (mkdir(root.c_str(), 0700) != 0) return system_error("mkdir", root);
    return ok();
  }));

  auto t1 = detail::Clock::now();
  TRY_ASSIGN(sb.cgroup_, cgroups.create(o.id, o.spec.linux.resources));
  sb.times_.cgroup_ms = detail::ms_since(t1);
  // From here on, a failure destroys `sb`, which kills and removes what exists so far.

  auto t2 = detail::Clock::now();
  os::RunscInitPlan plan;
  plan.binary = runsc.binary;
  plan.argv = os::runsc_run_argv(runsc, sb.state_dir_ + "/runsc", sb.state_dir_ + "/bundle", o.id);
  for (int i = 0; i < 3; ++i) plan.stdio_fds[i] = o.stdio_fds[i];
  plan.die_with_parent = o.die_with_parent;
  TRY_ASSIGN(auto channels, os::SyncChannel::make_pair());
  sb.channel_ = std::move(channels.first);
  const os::SyncChannel& child_end = channels.second;
  os::CloneOptions clone;
  // No namespaces of ours: runsc makes its sandbox's and gofer's. Handlers are not runsc's.
  clone.flags = CLONE_CLEAR_SIGHAND;
  clone.cgroup_fd = sb.cgroup_->clone_into_fd();
  TRY_ASSIGN(sb.init_, os::spawn_process(clone, [&]() {
               sb.channel_.close();
               return os::run_runsc_init(plan, child_end);
             }));
  channels.second.close();
  sb.cgroup_->close_clone_fd();
  sb.times_.clone_ms = detail::ms_since(t2);

  auto t3 = detail::Clock::now();
  TRY(sb.cgroup_->add_process(sb.init_.pid())
          .context("placing sandbox " + o.id + " in its cgroup"));
  TRY(sb.channel_.send(os::SyncMessage::go));
  TRY(sb.channel_.expect(os::SyncMessage::ready, sb.init_.pidfd(), 30000)
          .context("creating sandbox " + o.id));
  sb.times_.init_ms = detail::ms_since(t3);
  TRY(sb.write_state());
  sb.status_ = Status::created;
  return sb;
}

Result<void> signal_runsc_sandbox(os::CgroupManager& cgroups, const std::string& state_root,
                                  const std::string& id, int signal) {
  if (signal == SIGKILL) {
    TRY_ASSIGN(auto cg, cgroups.open(id));
    return cg->kill_all().context("killing sandbox " + id);
  }
  TRY_ASSIGN(SandboxState st, load_state(state_root, id));
  if (st.runsc.empty()) return make_error("signal", id, "not a gvisor-tier sandbox");
  if (st.status != "running") return make_error("signal", id, "sandbox is " + st.status);
  return os::runsc_signal(st.runsc, state_root + "/" + id + "/runsc", id, signal);
}

}  // namespace clawcage::engine
