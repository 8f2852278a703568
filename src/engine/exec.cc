// exec: a new process inside a running sandbox, contained exactly as its init (runc exec).
// The helper joins the init's namespaces and root through its pidfd, in the sandbox's
// cgroups, and forks the payload as our child; the payload then takes the init's own steps
// from the user switch to seccomp (process_plan.h), with the sandbox's stored config.
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

#include "base/files.h"
#include "engine/process_plan.h"
#include "engine/sandbox.h"
#include "linux/capabilities.h"
#include "spec/parse.h"

namespace clawcage::engine {

namespace {

// The namespaces of pid that differ from ours (a tier may share some with the host).
int namespaces_to_join(pid_t pid, bool& user) {
  struct Kind {
    const char* name;
    int flag;
  };
  static const Kind kinds[] = {{"mnt", CLONE_NEWNS},   {"uts", CLONE_NEWUTS},
                               {"ipc", CLONE_NEWIPC},  {"net", CLONE_NEWNET},
                               {"pid", CLONE_NEWPID},  {"cgroup", CLONE_NEWCGROUP},
                               {"user", CLONE_NEWUSER}};
  int flags = 0;
  for (const auto& k : kinds) {
    struct stat theirs, ours;
    std::string p = "/proc/" + std::to_string(pid) + "/ns/" + k.name;
    std::string s = std::string("/proc/self/ns/") + k.name;
    if (stat(p.c_str(), &theirs) != 0 || stat(s.c_str(), &ours) != 0) continue;
    if (theirs.st_ino == ours.st_ino && theirs.st_dev == ours.st_dev) continue;
    flags |= k.flag;
  }
  user = flags & CLONE_NEWUSER;
  return flags & ~CLONE_NEWUSER;
}

void set_env(std::vector<std::string>& env, const std::string& entry) {
  std::string key = entry.substr(0, entry.find('=') + 1);
  auto it = std::find_if(env.begin(), env.end(),
                         [&](const std::string& e) { return e.rfind(key, 0) == 0; });
  if (it != env.end())
    *it = entry;
  else
    env.push_back(entry);
}

// The process the exec runs: the sandbox's own with the caller's changes. Nothing may widen
// what the tier granted: capabilities stay within the sandbox's bounding set, and
// no_new_privs, seccomp and Landlock are always the sandbox's.
// `asked_at_create`: the capabilities the bundle's own config.json asked for. The tier
// removed some of them at create (the container tier: MKNOD, NET_RAW, SYS_CHROOT); an exec
// asking for those again (podman passes the container's process) loses them the same way.
// Anything else outside the bounding set is refused.
Result<spec::Process> exec_process(const spec::Spec& config, const ExecOptions& o,
                                   const std::vector<std::string>& asked_at_create) {
  spec::Process p = config.process;
  if (o.process) {
    const auto& bounding = config.process.capabilities.bounding;
    auto has = [](const std::vector<std::string>& v, const std::string& x) {
      return std::find(v.begin(), v.end(), x) != v.end();
    };
    spec::Process asked = *o.process;
    auto& c = asked.capabilities;
    for (auto* set : {&c.bounding, &c.effective, &c.permitted, &c.inheritable, &c.ambient}) {
      for (const auto& cap : *set)
        if (!has(bounding, cap) && !has(asked_at_create, cap))
          return invalid_field("process.capabilities",
                               cap + " is outside sandbox " + o.id + "'s bounding set");
      std::erase_if(*set, [&](const std::string& cap) { return !has(bounding, cap); });
    }
    p = std::move(asked);
    p.no_new_privileges = p.no_new_privileges || config.process.no_new_privileges;
  }
  if (!o.args.empty()) p.args = o.args;
  if (p.args.empty()) return invalid_field("args", "an exec needs a command");
  for (const auto& e : o.env) {
    if (e.find('=') == std::string::npos || e.front() == '=')
      return invalid_field("env", "expected NAME=VALUE, got \"" + e + "\"");
    set_env(p.env, e);
  }
  if (o.cwd) {
    if (o.cwd->empty() || o.cwd->front() != '/')
      return invalid_field("cwd", "expected an absolute path, got \"" + *o.cwd + "\"");
    p.cwd = *o.cwd;
  }
  if (o.user) {
    p.user.uid = o.user->first;
    p.user.gid = o.user->second;
    p.user.additional_gids.clear();
  }
  return p;
}

}  // namespace

Result<os::ChildProcess> exec_in_sandbox(os::CgroupManager& cgroups, const ExecOptions& o) {
  TRY_ASSIGN(SandboxState st, load_state(o.state_root, o.id));
  if (!st.runsc.empty())
    return make_error("exec", o.id,
                      "tier gvisor does not support exec into a sandbox (its processes live in "
                      "runsc's sandbox kernel)");
  if (st.status != "running" || st.pid <= 0)
    return make_error("exec", o.id, "sandbox is " + st.status + ", not running");
  // pidfd first, then the state again: the pid cannot be reused between the check and use.
  int raw = static_cast<int>(syscall(SYS_pidfd_open, st.pid, 0));
  if (raw < 0) return system_error("pidfd_open", "sandbox " + o.id);
  UniqueFd pidfd(raw);
  std::string config_path = o.state_root + "/" + o.id + "/config.json";
  if (!path_exists(config_path))
    return make_error("exec", o.id,
                      "the sandbox was created without its config kept (" + config_path +
                          "), so nothing can be exec'd into it");
  TRY_ASSIGN(spec::Spec config, spec::load_spec_file(config_path));
  os::InitPlan plan;
  std::vector<std::string> warnings;
  TRY(plan_process(config, plan, warnings));
  std::vector<std::string> asked_at_create;
  if (o.process && !st.bundle.empty() && path_exists(st.bundle + "/config.json")) {
    auto original = spec::load_spec_file(st.bundle + "/config.json");
    if (original) {
      const auto& c = original->process.capabilities;
      for (const auto* set : {&c.bounding, &c.effective, &c.permitted, &c.inheritable, &c.ambient})
        asked_at_create.insert(asked_at_create.end(), set->begin(), set->end());
    }
  }
  TRY_ASSIGN(spec::Process process, exec_process(config, o, asked_at_create));
  TRY_ASSIGN(plan.capabilities, os::resolve_capabilities(process.capabilities));
  TRY_ASSIGN(plan.rlimits, os::resolve_rlimits(process.rlimits));
  plan.no_new_privileges = process.no_new_privileges;
  plan.oom_score_adj = process.oom_score_adj;
  plan.uid = process.user.uid;
  plan.gid = process.user.gid;
  plan.additional_gids = process.user.additional_gids;
  plan.umask = process.user.umask;
  plan.cwd = process.cwd;
  plan.args = process.args;
  plan.env = process.env;
  for (int i = 0; i < 3; ++i) plan.stdio_fds[i] = o.stdio_fds[i];
  plan.die_with_parent = o.die_with_parent;

  os::JoinPlan join;
  join.init_pidfd = pidfd.get();
  join.namespaces = namespaces_to_join(st.pid, join.user_namespace);
  std::string root = "/proc/" + std::to_string(st.pid) + "/root";
  UniqueFd root_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd && errno == ENOENT) return make_error("exec", o.id, "sandbox is not running");
  if (!root_fd) return system_error("open", root);
  join.root_fd = root_fd.get();
  TRY_ASSIGN(SandboxState again, load_state(o.state_root, o.id));
  if (again.pid != st.pid) return make_error("exec", o.id, "sandbox is not running");
  TRY_ASSIGN(auto cgroup, cgroups.open(o.id));

  TRY_ASSIGN(auto channels, os::SyncChannel::make_pair());
  os::SyncChannel& ours = channels.first;
  const os::SyncChannel& theirs = channels.second;
  os::CloneOptions clone;
  clone.flags = CLONE_CLEAR_SIGHAND;
  TRY_ASSIGN(os::ChildProcess helper, os::spawn_process(clone, [&]() {
               ours.close();
               return os::run_exec_helper(plan, join, theirs);
             }));
  channels.second.close();
  TRY(cgroup->add_process(helper.pid()).context("placing an exec in sandbox " + o.id));
  TRY(ours.send(os::SyncMessage::go));
  constexpr int kSetupTimeoutMs = 30000;
  TRY_ASSIGN(os::SyncPacket forked,
             ours.expect(os::SyncMessage::pid, helper.pidfd(), kSetupTimeoutMs)
                 .context("exec in sandbox " + o.id));
  TRY(helper.wait(kSetupTimeoutMs));
  // Our child (CLONE_PARENT) and not yet reaped, so its pid cannot have been reused.
  pid_t pid = forked.code;
  raw = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (raw < 0) return system_error("pidfd_open", "exec in sandbox " + o.id);
  os::ChildProcess payload(pid, UniqueFd(raw));
  TRY(ours.expect_eof(payload.pidfd(), kSetupTimeoutMs).context("exec in sandbox " + o.id));
  return payload;
}

}  // namespace clawcage::engine
