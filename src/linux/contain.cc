#include "linux/contain.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "base/files.h"
#include "linux/landlock.h"

namespace clawcage::os {

namespace {

Result<void> check(bool okay, const char* operation, const std::string& subject) {
  if (!okay) return system_error(operation, subject);
  return ok();
}

Result<void> pivot_into(const std::string& rootfs) {
  TRY(check(chdir(rootfs.c_str()) == 0, "chdir", rootfs));
  // pivot_root(".", ".") stacks the old root under the new one; detaching "." then drops it
  // without needing a put_old directory inside the image.
  TRY(check(syscall(SYS_pivot_root, ".", ".") == 0, "pivot_root", rootfs));
  TRY(check(umount2(".", MNT_DETACH) == 0, "detach old root", "/"));
  TRY(check(chdir("/") == 0, "chdir", "/"));
  return ok();
}

Result<void> enter_user_namespace(const SyncChannel& channel) {
  TRY(check(unshare(CLONE_NEWUSER) == 0, "unshare", "user namespace"));
  TRY(channel.send(SyncMessage::userns_ready));
  TRY(channel.expect(SyncMessage::maps_written, -1, -1));
  return ok();
}

Result<void> switch_user(const InitPlan& plan) {
  // Keep permitted capabilities across the uid change; the spec's sets are applied next.
  TRY(check(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == 0, "prctl", "keep capabilities"));
  std::vector<gid_t> groups(plan.additional_gids.begin(), plan.additional_gids.end());
  // Drops the host's supplementary groups as well (root's group 0 among them).
  TRY(check(setgroups(groups.size(), groups.data()) == 0, "setgroups",
            "process.user.additionalGids"));
  TRY(check(setresgid(plan.gid, plan.gid, plan.gid) == 0, "setresgid",
            "process.user.gid " + std::to_string(plan.gid)));
  TRY(check(setresuid(plan.uid, plan.uid, plan.uid) == 0, "setresuid",
            "process.user.uid " + std::to_string(plan.uid)));
  TRY(check(prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) == 0, "prctl", "keep capabilities"));
  return ok();
}

Result<std::string> find_executable(const InitPlan& plan) {
  const std::string& name = plan.args[0];
  if (name.find('/') != std::string::npos) {
    if (access(name.c_str(), X_OK) != 0) return system_error("exec", name);
    return name;
  }
  std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const auto& e : plan.env)
    if (e.rfind("PATH=", 0) == 0) path = e.substr(5);
  size_t pos = 0;
  int last_errno = ENOENT;
  while (pos <= path.size()) {
    size_t colon = path.find(':', pos);
    std::string dir =
        path.substr(pos, colon == std::string::npos ? std::string::npos : colon - pos);
    pos = colon == std::string::npos ? path.size() + 1 : colon + 1;
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    if (errno != ENOENT && errno != ENOTDIR) last_errno = errno;
  }
  return system_error(last_errno, "exec", name + " (not found in PATH " + path + ")");
}

// The steps every payload process takes inside the sandbox, the init's and an exec's:
// limits, capability bounding set, user, capabilities, working directory. Returns the
// executable it will run.
Result<std::string> become_payload_user(const InitPlan& plan, bool die_with_parent) {
  TRY(apply_rlimits(plan.rlimits).context("applying process.rlimits"));
  TRY(drop_bounding_set(plan.capabilities));
  TRY(switch_user(plan));
  TRY(apply_capability_sets(plan.capabilities));
  // The uid change cleared the parent-death signal.
  if (die_with_parent)
    TRY(check(prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == 0, "prctl", "parent death signal"));
  if (plan.umask) umask(*plan.umask);
  TRY(check(chdir(plan.cwd.c_str()) == 0, "chdir", "process.cwd " + plan.cwd));
  return find_executable(plan);
}

// Closes every fd from `first` up except those in keep.
void close_fds_except(unsigned first, std::vector<int> keep) {
  std::sort(keep.begin(), keep.end());
  for (int fd : keep) {
    if (fd < 0 || static_cast<unsigned>(fd) < first) continue;
    if (static_cast<unsigned>(fd) > first) syscall(SYS_close_range, first, fd - 1, 0);
    first = static_cast<unsigned>(fd) + 1;
  }
  syscall(SYS_close_range, first, ~0U, 0);
}

// How the init learns that `start` was called and tells it the outcome.
struct StartGate {
  int fifo_fd = -1;        // detached: the exec fifo, open for writing
  std::string hook_state;  // the state JSON for startContainer (status "created")
};

// Landlock and seccomp for a process that keeps no_new_privs off (a bundle's
// `noNewPrivileges: false`). The kernel then takes a filter or a Landlock domain only from a
// task with CAP_SYS_ADMIN in its user namespace, so they are loaded here, while this process
// is still its namespace's full root, before the capabilities and the user are applied (as
// runc does): the profile must allow those steps (the default one does). With no_new_privs
// they wait until just before execve, as exec_payload says.
Result<void> confine_early(const InitPlan& plan) {
  if (plan.no_new_privileges) return ok();
  if (plan.landlock_scopes) TRY(restrict_landlock_scopes(plan.landlock_scopes));
  if (plan.seccomp) TRY(load_seccomp(*plan.seccomp).context("process.noNewPrivileges is false"));
  return ok();
}

// The last steps: no host fd but stdio, no_new_privs, Landlock, seccomp, startContainer
// hooks, execve.
Result<void> exec_payload(const InitPlan& plan, const std::string& executable,
                          const SyncChannel& channel, const StartGate& gate = {}) {
  // No host fd reaches the payload but stdio and the preserved ones (CVE-2024-21626); the
  // channel and the fifo are CLOEXEC and report an exec failure.
  close_fds_except(3 + static_cast<unsigned>(plan.preserve_fds), {channel.fd(), gate.fifo_fd});
  if (plan.no_new_privileges) {
    TRY(check(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "prctl", "no_new_privs"));
    // Its own Landlock domain: no signal, ptrace or abstract-socket connection leaves it.
    if (plan.landlock_scopes) TRY(restrict_landlock_scopes(plan.landlock_scopes));
    // Seccomp is the last step: everything above needed syscalls the profile may refuse.
    if (plan.seccomp) TRY(load_seccomp(*plan.seccomp));
  }  // else confine_early loaded both
  if (!plan.start_container_hooks.empty()) {
    // Contained as the payload will be. Attached, the runner's end of the channel is the
    // runtime: its hangup kills the hook. Detached, `start` reads the outcome on the fifo.
    auto r = run_hooks(plan.start_container_hooks, gate.hook_state,
                       gate.fifo_fd < 0 ? channel.fd() : -1);
    if (!r) {
      if (gate.fifo_fd >= 0) {
        std::string msg = "E" + r.error().message();
        if (msg.size() > 4000) msg.resize(4000);
        (void)!write(gate.fifo_fd, msg.data(), msg.size());
      }
      return std::move(r).context("running hooks.startContainer");
    }
  }
  // Detached: `start` returns once this byte arrives (runc's exec.fifo protocol).
  if (gate.fifo_fd >= 0) (void)!write(gate.fifo_fd, "0", 1);
  std::vector<char*> argv, envp;
  for (const auto& a : plan.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : plan.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  execve(executable.c_str(), argv.data(), envp.data());
  return system_error("exec", executable);
}

// The order is the security argument. Reorder only with a test that shows why.
Result<void> contain(const InitPlan& plan, const SyncChannel& channel) {
  // Everything else the creator had open is closed now, not only at exec: should the
  // creator die before `start`, this init must not keep its socket answering.
  {
    std::vector<int> keep = {channel.fd(), plan.exec_fifo_fd};
    for (const auto& op : plan.mounts.ops) keep.push_back(op.source_fd);
    for (int fd = 3; fd < 3 + plan.preserve_fds; ++fd) keep.push_back(fd);
    TRY(take_stdio_close_rest(plan.stdio_fds, keep));
  }
  // Attached: the sandbox dies with its runner. Detached: its creator exits right away.
  bool attached = plan.exec_fifo_fd < 0;
  bool die_with_parent = attached && plan.die_with_parent;
  if (die_with_parent)
    TRY(check(prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == 0, "prctl", "parent death signal"));
  // A new session drops the controlling terminal: with the caller's tty as stdin, TIOCSTI
  // would push keystrokes into the host shell (dev.tty.legacy_tiocsti is 1 on this host).
  TRY(check(setsid() >= 0, "setsid", "sandbox init"));
  // The parent places us in every cgroup before this arrives, so nothing below escapes them.
  TRY(channel.expect(SyncMessage::go, -1, -1));
  if (plan.cgroup_namespace)
    TRY(check(unshare(CLONE_NEWCGROUP) == 0, "unshare", "cgroup namespace"));
  // As host root in our own mount namespace: every mount made here (ro volumes, masks) is
  // owned by the host's user namespace, so the sandbox can never undo it.
  TRY(apply_mount_plan(plan.mounts, plan.rootfs, plan.overlay_dir)
          .context("building the sandbox's mounts"));
  for (const auto& [key, value] : plan.sysctls) {
    std::string path = "/proc/sys/" + key;
    std::replace(path.begin() + 10, path.end(), '.', '/');
    TRY(write_file(path, value).context("setting linux.sysctl." + key));
  }
  StartGate gate;
  if (plan.hook_sync) {
    // The runtime's prestart and createRuntime hooks run now: namespaces exist, no
    // pivot_root yet (config.md).
    TRY(channel.send(SyncMessage::mounts_ready));
    TRY_ASSIGN(SyncPacket state, channel.expect(SyncMessage::hook_state, -1, -1));
    TRY(run_hooks(plan.create_container_hooks, state.text, channel.fd())
            .context("running hooks.createContainer"));
    // The same state, as startContainer sees it. Keys are sorted, so the top-level
    // "status" comes after the annotations: its occurrence is the last one.
    gate.hook_state = state.text;
    const std::string creating = "\"status\":\"creating\"";
    size_t at = gate.hook_state.rfind(creating);
    if (at != std::string::npos)
      gate.hook_state.replace(at, creating.size(), "\"status\":\"created\"");
  }
  if (plan.pivot_root) {
    TRY(pivot_into(plan.rootfs));
    if (plan.readonly_root) TRY(make_root_readonly());
  } else if (plan.readonly_root) {
    TRY(check(mount(nullptr, plan.rootfs.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY,
                    nullptr) == 0,
              "remount read-only", plan.rootfs));
  }
  if (!plan.hostname.empty())
    TRY(check(sethostname(plan.hostname.data(), plan.hostname.size()) == 0, "sethostname",
              plan.hostname));
  if (plan.oom_score_adj)
    TRY(write_file("/proc/self/oom_score_adj", std::to_string(*plan.oom_score_adj))
            .context("setting process.oomScoreAdj"));
  // The user namespace comes last, so it owns none of the other namespaces: its root has
  // no power over mounts, hostname or network even with every capability.
  if (plan.user_namespace) TRY(enter_user_namespace(channel));
  if (!plan.pivot_root) {
    // chroot(2) in a chrooted process cannot create a user namespace: hence after it.
    TRY(check(chroot(plan.rootfs.c_str()) == 0, "chroot", plan.rootfs));
    TRY(check(chdir("/") == 0, "chdir", "/"));
  }
  TRY(confine_early(plan));
  TRY_ASSIGN(std::string executable, become_payload_user(plan, die_with_parent));
  TRY(channel.send(SyncMessage::ready));
  if (attached) {
    TRY(channel.expect(SyncMessage::start, -1, -1));
  } else {
    // Blocks until `clawcage start` opens the fifo for reading (runc's exec.fifo); the
    // byte telling it the outcome is written right before execve.
    std::string fifo = "/proc/self/fd/" + std::to_string(plan.exec_fifo_fd);
    gate.fifo_fd = open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
    TRY(check(gate.fifo_fd >= 0, "open", "exec fifo"));
  }
  return exec_payload(plan, executable, channel, gate);
}

// An exec: joins the running sandbox's namespaces and root as host root, then the user
// namespace last (as the init entered it), then forks the payload as the caller's child.
Result<void> join_and_fork(const InitPlan& plan, const JoinPlan& join, const SyncChannel& channel) {
  TRY(take_stdio_close_rest(plan.stdio_fds, {channel.fd(), join.init_pidfd, join.root_fd}));
  TRY(check(setsid() >= 0, "setsid", "exec helper"));
  // The parent has placed us in the sandbox's cgroups; the payload inherits them.
  TRY(channel.expect(SyncMessage::go, -1, -1));
  if (join.namespaces)
    TRY(check(setns(join.init_pidfd, join.namespaces) == 0, "setns", "the sandbox's namespaces"));
  // The init's root, which the mount namespace's root is not in the chroot tier.
  TRY(check(fchdir(join.root_fd) == 0 && chroot(".") == 0, "chroot", "the sandbox's root"));
  TRY(check(chdir("/") == 0, "chdir", "/"));
  if (plan.oom_score_adj)
    TRY(write_file("/proc/self/oom_score_adj", std::to_string(*plan.oom_score_adj))
            .context("setting process.oomScoreAdj"));
  if (join.user_namespace)
    TRY(check(setns(join.init_pidfd, CLONE_NEWUSER) == 0, "setns", "the sandbox's user namespace"));
  close(join.init_pidfd);
  close(join.root_fd);
  // Joining a pid namespace only places children in it; CLONE_PARENT makes the payload the
  // caller's child, so the caller waits on it (runc's nsexec does the same).
  clone_args args{};
  args.flags = CLONE_PARENT;
  long pid = syscall(SYS_clone3, &args, sizeof args);
  TRY(check(pid >= 0, "clone3", "exec payload"));
  if (pid > 0) return channel.send(SyncMessage::pid, static_cast<int>(pid));
  TRY(confine_early(plan));
  TRY_ASSIGN(std::string executable, become_payload_user(plan, plan.die_with_parent));
  return exec_payload(plan, executable, channel);
}

}  // namespace

Result<void> take_stdio_close_rest(const int stdio_fds[3], std::vector<int> keep) {
  for (int i = 0; i < 3; ++i) {
    if (stdio_fds[i] < 0) continue;
    // dup2 clears O_CLOEXEC on the copy; the original is closed below unless kept.
    TRY(check(dup2(stdio_fds[i], i) == i, "dup2", "stdio of the task"));
  }
  std::sort(keep.begin(), keep.end());
  int next = 3;
  for (int fd : keep) {
    if (fd < next) continue;
    if (fd > next) syscall(SYS_close_range, next, fd - 1, 0);
    next = fd + 1;
  }
  syscall(SYS_close_range, next, ~0U, 0);
  // Signals blocked by the runner (it turns them into a signalfd) must not stay blocked.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  return ok();
}

int run_exec_helper(const InitPlan& plan, const JoinPlan& join, const SyncChannel& channel) {
  auto r = join_and_fork(plan, join, channel);
  if (r) return 0;  // the helper, having sent the payload's pid
  channel.send_error(r.error());
  return 127;
}

int run_sandbox_init(const InitPlan& plan, const SyncChannel& channel) {
  auto r = contain(plan, channel);
  channel.send_error(r.error());
  return 127;
}

}  // namespace clawcage::os
