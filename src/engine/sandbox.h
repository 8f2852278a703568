// One sandbox through the OCI lifecycle: create leaves the init waiting, start releases it,
// kill signals it, wait reaps it, destroy removes everything it owned. Every resource is
// named after the sandbox id, so `clawcage gc` can find leftovers from the kernel side.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "linux/cgroup.h"
#include "linux/process.h"
#include "linux/runsc.h"
#include "linux/sync_channel.h"
#include "spec/spec.h"

namespace clawcage::engine {

enum class ExitCause { exited, signaled, oom_killed, timeout, killed, spawn_failed };
const char* exit_cause_name(ExitCause cause);

enum class Status { created, running, stopped };

struct CreateOptions {
  std::string id;
  spec::Spec spec;
  std::string bundle_dir = ".";              // root.path is relative to it
  std::string state_root = "/run/clawcage";  // <state_root>/<id>/state.json
  // OCI create/start from separate processes: the init waits on <state>/exec.fifo and
  // the creator may exit (see Sandbox::detach and the *_detached functions).
  bool detached = false;
  // The payload's stdin, stdout, stderr (borrowed, used during create); -1: inherited.
  int stdio_fds[3] = {-1, -1, -1};
  // Attached sandboxes die with their creator unless this is false (daemon tasks survive
  // a daemon restart and are re-adopted).
  bool die_with_parent = true;
  // Keeps the spec in the state dir (config.json), which an exec into the sandbox needs. It
  // costs about 9% of a spawn; a daemon keeps it only for tasks that run health checks.
  bool keep_config = true;
  // runc's --preserve-fds N: the caller's fds 3 .. 3+N-1 reach the payload as they are.
  int preserve_fds = 0;
  // gvisor tier: runsc's --platform; empty: $CLAWCAGE_GVISOR_PLATFORM, else ptrace.
  std::string gvisor_platform;
};

// True when the spec's tier (its run.clawcage.tier annotation) is gvisor: the sandbox is
// runsc, cloned into the sandbox's cgroup (see gvisor.cc).
bool runs_under_runsc(const spec::Spec& spec);

// Milliseconds spent in each setup phase (sandbox2's latency breakdown): a spawn cliff
// shows which step grew.
struct SetupTimes {
  double prepare_ms = 0, cgroup_ms = 0, clone_ms = 0, init_ms = 0, start_ms = 0;
};

class Sandbox {
 public:
  static Result<Sandbox> create(os::CgroupManager& cgroups, CreateOptions options);
  // A moved-from sandbox owns nothing and its destructor does nothing.
  Sandbox(Sandbox&& other) noexcept;
  Sandbox& operator=(Sandbox&& other) noexcept;
  ~Sandbox();  // destroys whatever is still held

  const std::string& id() const { return id_; }
  pid_t pid() const { return init_.pid(); }
  Status status() const { return status_; }
  const SetupTimes& setup_times() const { return times_; }
  // What was asked for but could not be applied on this kernel (best-effort controls).
  const std::vector<std::string>& warnings() const { return warnings_; }
  os::Cgroup& cgroup() { return *cgroup_; }

  Result<void> start();
  // Signals the init; SIGKILL goes through the cgroup so double-forked children die too.
  Result<void> kill(int signal);
  // Waits for the init to exit (timeout_ms < 0: forever); nullopt on timeout.
  Result<std::optional<os::ExitStatus>> wait(int timeout_ms);
  int pidfd() const { return init_.pidfd(); }
  Result<os::CgroupStats> stats() const { return cgroup_->stats(); }
  // Kills every process, removes the cgroup and the state dir. Idempotent.
  Result<void> destroy();
  // Leaves the created sandbox to live on after this object (OCI create): nothing is torn
  // down; later processes find it by id.
  void detach();

 private:
  Sandbox() = default;
  Result<void> write_state() const;
  // Claims <state_root>/<id>: built as a hidden dir (`fill` writes what it needs into it),
  // then renamed into place without replacing anything.
  Result<void> claim_state_dir(const CreateOptions& o,
                               const std::function<Result<void>(const std::string&)>& fill);
  // The gvisor tier's create (gvisor.cc): the init becomes `runsc run`.
  static Result<Sandbox> create_under_runsc(os::CgroupManager& cgroups, CreateOptions options);

  std::string id_;
  std::string state_dir_;
  std::string bundle_;
  std::map<std::string, std::string> annotations_;
  bool detached_ = false;
  std::unique_ptr<os::Cgroup> cgroup_;
  os::ChildProcess init_;
  os::SyncChannel channel_;
  Status status_ = Status::created;
  SetupTimes times_;
  std::vector<std::string> warnings_;
  bool destroyed_ = false;
  // Set for the gvisor tier: signals go through `runsc kill`, exit codes are decoded.
  std::optional<os::Runsc> runsc_;
  // The spec's hooks: start runs poststart, destroy poststop (engine/hooks.h).
  spec::Hooks hooks_;
  std::string oci_version_;
};

// A sandbox as another process sees it, from its state dir and the kernel.
struct SandboxState {
  std::string id;
  std::string status;  // creating, created, running, stopped
  pid_t pid = 0;       // 0 when the init is gone
  std::string bundle;
  std::map<std::string, std::string> annotations;
  std::string runsc;  // gvisor tier: the runsc binary that runs it
};

Result<SandboxState> load_state(const std::string& state_root, const std::string& id);
std::string state_to_json(const SandboxState& state);
// OCI verbs on a detached sandbox, by id. Failed poststart/poststop hooks are warnings,
// appended to `warnings` when given.
Result<void> start_detached(const std::string& state_root, const std::string& id,
                            std::vector<std::string>* warnings = nullptr);
Result<void> kill_detached(os::CgroupManager& cgroups, const std::string& state_root,
                           const std::string& id, int signal);
Result<void> delete_detached(os::CgroupManager& cgroups, const std::string& state_root,
                             const std::string& id, bool force,
                             std::vector<std::string>* warnings = nullptr);

// A gvisor-tier sandbox that another process created (a daemon's re-adopted task): delivers
// `signal` to its payload through `runsc kill`, SIGKILL through its cgroup.
Result<void> signal_runsc_sandbox(os::CgroupManager& cgroups, const std::string& state_root,
                                  const std::string& id, int signal);

// A process started inside a running sandbox (runc exec): the sandbox's own process from
// its stored config.json, with these changes.
struct ExecOptions {
  std::string state_root = "/run/clawcage";
  std::string id;
  // Replaces the config's process (runc exec --process); its capabilities must lie within
  // the sandbox's bounding set, and no_new_privs, seccomp and Landlock stay the sandbox's.
  std::optional<spec::Process> process;
  std::vector<std::string> args;  // the command (required unless process is given)
  std::vector<std::string> env;   // NAME=VALUE, replacing same-named entries
  std::optional<std::string> cwd;
  std::optional<std::pair<uint32_t, uint32_t>> user;  // uid, gid inside the sandbox
  // The process's stdin, stdout, stderr (borrowed); -1: inherited from the caller.
  int stdio_fds[3] = {-1, -1, -1};
  bool die_with_parent = true;
};

// Starts the process in the sandbox's namespaces, root and cgroups, contained as its init
// is (user, capabilities, rlimits, no_new_privs, Landlock, seccomp). It is the caller's
// child; the returned value kills it unless waited for. Fails, leaving nothing, when the
// sandbox is not running or the exec fails.
Result<os::ChildProcess> exec_in_sandbox(os::CgroupManager& cgroups, const ExecOptions& options);

// Removes the hidden claims (".<id>.<pid>", see create.cc) under state_root whose creator is
// gone; `only_id` limits it to one sandbox. Returns how many went.
int remove_abandoned_claims(const std::string& state_root, const std::string& only_id = "");

// Removes a sandbox's state dir (the files create writes in it, the gvisor tier's bundle/,
// runsc/ and volumes/ subdirs with what runsc left in them, then the dir); a missing dir is
// fine.
Result<void> remove_state_dir(const std::string& dir);

// Sandbox ids name cgroups and state dirs: [A-Za-z0-9][A-Za-z0-9_.-]{0,63}.
Result<void> check_sandbox_id(const std::string& id);

}  // namespace clawcage::engine
