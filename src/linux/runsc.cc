#include "linux/runsc.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>

#include "linux/contain.h"

namespace clawcage::os {

namespace {

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

bool is_executable_file(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

Result<void> check(bool okay, const char* operation, const std::string& subject) {
  if (!okay) return system_error(operation, subject);
  return ok();
}

// In a mount namespace of our own (runsc run and its gofer inherit it, the host never sees
// it): a tmpfs at the staging dir with the rootfs and the volumes bound beneath it.
Result<void> stage_mounts(const RunscInitPlan& plan) {
  TRY(check(unshare(CLONE_NEWNS) == 0, "unshare", "mount namespace of runsc"));
  TRY(check(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0, "make mounts private",
            "/"));
  const std::string& dir = plan.staging_dir;
  TRY(check(mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  "mode=0711,size=64k") == 0,
            "mount tmpfs", dir));
  std::string root = dir + "/rootfs";
  TRY(check(mkdir(root.c_str(), 0755) == 0, "mkdir", root));
  TRY(check(mount(plan.rootfs.c_str(), root.c_str(), nullptr, MS_BIND | MS_REC, nullptr) == 0,
            "bind rootfs", plan.rootfs));
  // Read-only only: runsc's gofer remounts the root later from inside the sandbox's user
  // namespace, where every flag set here is locked and a remount that drops one fails.
  if (plan.readonly_root)
    TRY(check(mount(nullptr, root.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) == 0,
              "remount read-only", root));
  for (const auto& v : plan.volumes) {
    std::string target = dir + "/" + v.name;
    if (v.directory) {
      TRY(check(mkdir(target.c_str(), 0700) == 0, "mkdir", target));
    } else {
      int fd = open(target.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
      TRY(check(fd >= 0, "create", target));
      close(fd);
    }
    TRY(check(syscall(SYS_move_mount, v.tree_fd, "", AT_FDCWD, target.c_str(),
                      MOVE_MOUNT_F_EMPTY_PATH) == 0,
              "move_mount", target));
    close(v.tree_fd);
  }
  return ok();
}

Result<void> become_runsc(const RunscInitPlan& plan, const SyncChannel& channel) {
  {
    std::vector<int> keep = {channel.fd()};
    for (const auto& v : plan.volumes) keep.push_back(v.tree_fd);
    TRY(take_stdio_close_rest(plan.stdio_fds, keep));
  }
  // gVisor writes a regular file it is handed at an offset of its own, so output to
  // `clawcage run > file` would overwrite from the start; in append mode every write lands
  // at the end, as it does for the native tiers.
  for (int fd : {1, 2}) {
    struct stat st;
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && !(flags & O_APPEND))
      (void)fcntl(fd, F_SETFL, flags | O_APPEND);
  }
  // runsc starts its sandbox and gofer with --attached semantics: they die with `runsc run`,
  // which dies with its creator unless the creator is a daemon whose tasks outlive it.
  if (plan.die_with_parent)
    TRY(check(prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == 0, "prctl", "parent death signal"));
  // No controlling terminal reaches runsc (TIOCSTI; see contain.cc).
  TRY(check(setsid() >= 0, "setsid", "runsc init"));
  // The parent places us in every cgroup before this arrives: runsc's sandbox and gofer are
  // forked after it, inside them.
  TRY(channel.expect(SyncMessage::go, -1, -1));
  TRY(stage_mounts(plan).context("staging the rootfs and volumes for runsc"));
  TRY(channel.send(SyncMessage::ready));
  TRY(channel.expect(SyncMessage::start, -1, -1));
  std::vector<char*> argv;
  for (const auto& a : plan.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // runsc gets a fixed environment: nothing of the runner's leaks into its logs or children.
  std::string path = std::string("PATH=") + kDefaultPath;
  char* envp[] = {path.data(), nullptr};
  // The channel is CLOEXEC: EOF tells the parent runsc was exec'd.
  execve(plan.binary.c_str(), argv.data(), envp);
  return system_error("exec", plan.binary);
}

}  // namespace

Result<std::string> find_runsc() {
  if (const char* configured = getenv("CLAWCAGE_RUNSC"); configured && *configured) {
    std::string path = configured;
    if (!is_executable_file(path))
      return make_error("find runsc", path,
                        "CLAWCAGE_RUNSC names no executable file: the gvisor tier needs gVisor's "
                        "runsc (Debian package runsc)");
    return path;
  }
  const char* env_path = getenv("PATH");
  std::string dirs = env_path && *env_path ? env_path : kDefaultPath;
  size_t pos = 0;
  while (pos <= dirs.size()) {
    size_t colon = dirs.find(':', pos);
    std::string dir =
        dirs.substr(pos, colon == std::string::npos ? std::string::npos : colon - pos);
    pos = colon == std::string::npos ? dirs.size() + 1 : colon + 1;
    if (dir.empty() || dir.front() != '/') continue;  // a relative PATH entry is not trusted
    std::string candidate = dir + "/runsc";
    if (is_executable_file(candidate)) return candidate;
  }
  return make_error("find runsc", "PATH " + dirs,
                    "runsc is not installed: the gvisor tier needs gVisor's runsc (Debian "
                    "package runsc) on PATH, or CLAWCAGE_RUNSC naming it");
}

Result<std::string> resolve_gvisor_platform(const std::string& requested) {
  std::string platform = requested;
  std::string field = "gvisor_platform";
  if (platform.empty()) {
    const char* env = getenv("CLAWCAGE_GVISOR_PLATFORM");
    if (env && *env) {
      platform = env;
      field = "CLAWCAGE_GVISOR_PLATFORM";
    }
  }
  if (platform.empty()) return std::string("ptrace");
  if (platform != "ptrace" && platform != "kvm")
    return invalid_field(field, "unknown gVisor platform \"" + platform +
                                    "\" (this runsc offers ptrace and kvm; systrap is newer)");
  return platform;
}

Result<Runsc> locate_runsc(const std::string& platform) {
  Runsc r;
  TRY_ASSIGN(r.platform, resolve_gvisor_platform(platform));
  TRY_ASSIGN(r.binary, find_runsc());
  return r;
}

std::vector<std::string> runsc_run_argv(const Runsc& runsc, const std::string& root_dir,
                                        const std::string& bundle_dir, const std::string& id) {
  return {"runsc", "--root", root_dir, "--platform", runsc.platform, "--network", "none",
          // clawcage cloned runsc into the sandbox's cgroup and applied the limits there;
          // runsc must not make cgroups of its own (they would outlive a kill -9).
          "--ignore-cgroups", "--oci-seccomp", "run", "--bundle", bundle_dir, id};
}

int run_runsc_init(const RunscInitPlan& plan, const SyncChannel& channel) {
  auto r = become_runsc(plan, channel);
  channel.send_error(r.error());
  return 127;
}

Result<void> runsc_signal(const std::string& binary, const std::string& root_dir,
                          const std::string& id, int signal, int timeout_ms) {
  std::string sig = std::to_string(signal);
  std::vector<std::string> args = {"runsc", "--root", root_dir, "kill", id, sig};
  TRY_ASSIGN(ChildProcess helper, spawn_process(CloneOptions{}, [&]() -> int {
               int null = open("/dev/null", O_RDWR | O_CLOEXEC);
               if (null >= 0) {
                 dup2(null, 0);
                 dup2(null, 1);
               }
               syscall(SYS_close_range, 3, ~0U, 0);
               sigset_t none;
               sigemptyset(&none);
               sigprocmask(SIG_SETMASK, &none, nullptr);
               std::vector<char*> argv;
               for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
               argv.push_back(nullptr);
               std::string path = std::string("PATH=") + kDefaultPath;
               char* envp[] = {path.data(), nullptr};
               execve(binary.c_str(), argv.data(), envp);
               return 127;
             }));
  TRY_ASSIGN(auto status, helper.wait(timeout_ms));
  if (!status)
    return make_error("runsc kill", id,
                      "no answer within " + std::to_string(timeout_ms) + " ms (helper killed)");
  if (status->signaled || status->code != 0)
    return make_error("runsc kill", id + " " + sig,
                      "runsc exited with " + std::to_string(status->shell_code()));
  return ok();
}

ExitStatus decode_runsc_exit(ExitStatus status) {
  if (!status.signaled && status.code > 128 && status.code <= 128 + 64)
    return ExitStatus{true, status.code - 128};
  return status;
}

}  // namespace clawcage::os
