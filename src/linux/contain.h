// The sandbox init: what the cloned child does between clone3 and execve.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "linux/capabilities.h"
#include "linux/hooks.h"
#include "linux/mount_plan.h"
#include "linux/rlimits.h"
#include "linux/seccomp.h"
#include "linux/sync_channel.h"

namespace clawcage::os {

// Everything the child needs, resolved by the parent so the child only acts.
struct InitPlan {
  std::string rootfs;      // absolute host path
  bool pivot_root = true;  // false: chroot (the chroot tier)
  bool readonly_root = false;
  // Non-empty: the rootfs is the lower layer of an overlay whose upper/ and work/ live here.
  std::string overlay_dir;
  bool user_namespace = false;
  bool cgroup_namespace = false;
  std::string hostname;
  // linux.sysctl, namespaced keys only (validate.cc), written before pivot_root through the
  // host's /proc/sys, whose net/ and ipc entries are those of the writer's namespaces.
  std::vector<std::pair<std::string, std::string>> sysctls;
  MountPlan mounts;
  std::optional<SeccompProgram> seccomp;
  CapabilitySets capabilities;
  std::vector<ResolvedRlimit> rlimits;
  bool no_new_privileges = true;
  std::optional<int> oom_score_adj;
  uint32_t uid = 0, gid = 0;
  std::vector<uint32_t> additional_gids;
  std::optional<uint32_t> umask;
  std::string cwd = "/";
  std::vector<std::string> args;
  std::vector<std::string> env;
  // Landlock scopes (signals, abstract unix sockets) applied after no_new_privs; 0: none.
  uint64_t landlock_scopes = 0;
  // Detached sandboxes (OCI create/start in separate processes): the init outlives its
  // creator and waits for `start` on this fifo (O_PATH fd) instead of the channel.
  int exec_fifo_fd = -1;
  // Files for the payload's stdin, stdout and stderr; -1 keeps the one inherited.
  int stdio_fds[3] = {-1, -1, -1};
  // The init dies with its creator (PR_SET_PDEATHSIG) unless it is detached or the creator
  // is a daemon whose tasks outlive its restarts.
  bool die_with_parent = true;
  // fds 3 .. 3+preserve_fds-1 stay open into the payload (runc's --preserve-fds).
  int preserve_fds = 0;
  // OCI hooks. With hook_sync, the init stops after its mounts (before pivot_root) and
  // sends mounts_ready; the runtime runs prestart and createRuntime, then sends the state
  // JSON (hook_state). The init runs createContainer there (the container's namespaces,
  // paths still resolving in the runtime's mount view) and startContainer after `start`,
  // fully contained, right before execve (as runc does).
  bool hook_sync = false;
  std::vector<HookCommand> create_container_hooks;
  std::vector<HookCommand> start_container_hooks;
};

// Joining a running sandbox (an exec): what the helper enters before it becomes the payload.
struct JoinPlan {
  int init_pidfd = -1;  // the sandbox's init
  int root_fd = -1;     // O_PATH fd of /proc/<init>/root, opened from the host
  int namespaces = 0;   // CLONE_NEW* flags to join, the user namespace excluded
  bool user_namespace = false;
};

// Runs in the exec helper (a child of the caller, placed in the sandbox's cgroups before
// SyncMessage::go): joins the sandbox, forks the payload with CLONE_PARENT so it is the
// caller's child and inside the sandbox's pid namespace, sends its pid (SyncMessage::pid)
// and returns 0. The payload takes the init's steps from the user switch on (plan's
// process fields) and reports an error on the channel, or execs.
int run_exec_helper(const InitPlan& plan, const JoinPlan& join, const SyncChannel& channel);

// stdio onto 0-2 (-1 keeps the inherited one), then every other inherited fd closed except
// `keep` (the creator's listening socket, journal and other tasks' pipes must not live on
// in the sandbox), and the signal mask cleared (runners block signals for a signalfd).
Result<void> take_stdio_close_rest(const int stdio_fds[3], std::vector<int> keep);

// Runs in the child; returns an exit code only on failure (after reporting the Error on
// the channel). On success it does not return: the payload is exec'd.
int run_sandbox_init(const InitPlan& plan, const SyncChannel& channel);

}  // namespace clawcage::os
