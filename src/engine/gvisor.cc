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

// runsc's bundle: the spec it gets and the detached mounts the init stages for it.
struct RunscBundle {
  spec::Spec config;
  std::string rootfs;    // host path
  os::MountPlan mounts;  // owns the volumes' detached trees until the init has them
  std::vector<os::StagedVolume> volumes;
};

// The spec runsc gets: the rootfs and every bind source replaced by their places under the
// staging dir (see RunscInitPlan), cgroupsPath dropped (clawcage owns the cgroup). The
// volumes are opened here, host-side, exactly as the native tiers open them (policy-checked
// sources without following links, flags set on a detached copy), so a missing or swapped
// source fails now, naming its field, before anything exists.
Result<RunscBundle> prepare_runsc_bundle(const CreateOptions& o, const std::string& staging) {
  RunscBundle b;
  b.config = o.spec;
  TRY_ASSIGN(b.rootfs, detail::resolve_rootfs(o));
  b.config.root.path = staging + "/rootfs";
  b.config.linux.cgroups_path.clear();
  spec::Spec absolute = o.spec;
  for (auto& m : absolute.mounts)
    if (!m.source.empty() && m.source.front() != '/' && m.type == "bind")
      m.source = o.bundle_dir + "/" + m.source;
  TRY_ASSIGN(b.mounts, os::plan_mounts(absolute));
  TRY(os::open_mount_sources(b.mounts));
  for (const auto& op : b.mounts.ops) {
    if (op.kind != os::MountKind::bind) continue;
    struct stat st;
    if (fstat(op.source_fd, &st) != 0) return system_error("stat", op.source);
    os::StagedVolume v{op.source_fd, "v" + std::to_string(b.volumes.size()), S_ISDIR(st.st_mode)};
    // runsc cannot create a missing mount point in a read-only root: made here, as the
    // native tiers make theirs.
    TRY(os::ensure_mount_target(b.rootfs, op.destination, !v.directory)
            .context("preparing mount point " + op.destination));
    for (auto& m : b.config.mounts) {
      if (m.destination != op.destination) continue;
      m.source = staging + "/" + v.name;
      // A clawcage option runsc does not know; its work was done by open_mount_sources.
      std::erase(m.options, std::string(os::kNoFollowOption));
    }
    b.volumes.push_back(std::move(v));
  }
  return b;
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
  if (!o.spec.hooks.empty()) return invalid_field("hooks", "not supported for tier gvisor");
  // runsc must exist before anything is created: without it there is nothing to clean up.
  TRY_ASSIGN(os::Runsc runsc, os::locate_runsc(o.gvisor_platform).context("tier gvisor"));
  std::string state_dir = o.state_root + "/" + o.id;
  TRY_ASSIGN(RunscBundle bundle, prepare_runsc_bundle(o, state_dir + "/volumes"));
  std::string config_json = spec::to_json(bundle.config, -1);

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
    // runsc's gofer, as the sandbox's mapped root, must traverse to the staging dir (it
    // cannot list it, and every file in here is 0600).
    if (chmod(dir.c_str(), 0711) != 0) return system_error("chmod", dir);
    for (const char* sub : {"/bundle", "/runsc", "/volumes"})
      if (mkdir((dir + sub).c_str(), std::string(sub) == "/volumes" ? 0711 : 0700) != 0)
        return system_error("mkdir", dir + sub);
    return create_file(dir + "/bundle/config.json", config_json, 0600);
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
  plan.staging_dir = sb.state_dir_ + "/volumes";
  plan.rootfs = bundle.rootfs;
  plan.readonly_root = o.spec.root.readonly;
  plan.volumes = bundle.volumes;
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
  bundle.mounts.source_fds.clear();  // the init holds its copies
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
