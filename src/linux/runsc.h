// gVisor's runsc as a program clawcage runs: finding it, its command line, the init that
// becomes `runsc run` inside the sandbox's cgroup, signals through `runsc kill`, and what
// its exit status means.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "linux/process.h"
#include "linux/sync_channel.h"

namespace clawcage::os {

// Where runsc is and how it runs one sandbox.
struct Runsc {
  std::string binary;    // absolute path of the runsc executable
  std::string platform;  // ptrace (default) or kvm
};

// $CLAWCAGE_RUNSC when set (it must name an executable file), else "runsc" on $PATH. The
// error names runsc and says how to get it.
Result<std::string> find_runsc();
// `requested`, else $CLAWCAGE_GVISOR_PLATFORM, else "ptrace". This runsc (0.0~20221219)
// knows ptrace and kvm; kvm hung on the development VM, so it is opt-in only.
Result<std::string> resolve_gvisor_platform(const std::string& requested);
// find_runsc + resolve_gvisor_platform.
Result<Runsc> locate_runsc(const std::string& platform);

// `runsc --root ROOT --platform P --network none --ignore-cgroups --oci-seccomp run
// --bundle BUNDLE ID`: no network, cgroups left to clawcage (runsc then stays in the cgroup
// it was cloned into, with all its processes), and the spec's seccomp loaded by the sentry.
std::vector<std::string> runsc_run_argv(const Runsc& runsc, const std::string& root_dir,
                                        const std::string& bundle_dir, const std::string& id);

// A volume as runsc will see it: a detached mount made by the parent (its ro, nosuid,
// nodev, noexec flags already set; policy-checked sources opened without following links),
// attached by the init at <staging_dir>/<name>.
struct StagedVolume {
  int tree_fd = -1;
  std::string name;
  bool directory = true;
};

// What the sandbox's init needs to become `runsc run`.
struct RunscInitPlan {
  std::string binary;
  std::vector<std::string> argv;
  int stdio_fds[3] = {-1, -1, -1};  // -1 keeps the inherited one
  bool die_with_parent = true;
  // runsc's gofer opens the rootfs and the volume sources by path after it has entered the
  // sandbox's user namespace (as host uid 100000), so a source under a directory only root
  // may traverse (the daemon's data dir, a home dir) would fail there. The init therefore
  // gives runsc a private mount namespace in which a tmpfs at staging_dir (under the state
  // dir, which others may traverse but not list) holds the rootfs at "rootfs" and every
  // volume: nothing of it is visible on the host, and it all goes with runsc's processes.
  std::string staging_dir;
  std::string rootfs;  // host path, bound at <staging_dir>/rootfs
  bool readonly_root = true;
  std::vector<StagedVolume> volumes;
};

// Runs in the cloned child (already in the sandbox's cgroup): stdio, no other host fd, a new
// session, `go` (the parent placed it in every hierarchy), the staging mounts, `ready`,
// `start`, then execve of runsc. Returns an exit code only on failure, after reporting the
// Error on the channel.
int run_runsc_init(const RunscInitPlan& plan, const SyncChannel& channel);

// Delivers `signal` to the sandbox's payload with `runsc --root ROOT kill ID SIGNAL`: a
// signal to `runsc run` itself is not forwarded (runsc dies and takes the sandbox with it).
// Bounded by timeout_ms; the helper is killed past it.
Result<void> runsc_signal(const std::string& binary, const std::string& root_dir,
                          const std::string& id, int signal, int timeout_ms = 5000);

// `runsc run` exits with the payload's code, 128+N when the payload died of signal N, and
// 128 when runsc itself failed (e.g. the command was not found). Codes 129..192 are read as
// signals, as a shell does: a payload that exits with such a code itself is indistinguishable.
ExitStatus decode_runsc_exit(ExitStatus status);

}  // namespace clawcage::os
