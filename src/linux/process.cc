#include "linux/process.h"

#include <linux/sched.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "base/files.h"

namespace clawcage::os {

ChildProcess& ChildProcess::operator=(ChildProcess&& o) noexcept {
  if (this != &o) {
    kill_and_reap();
    pid_ = std::exchange(o.pid_, -1);
    pidfd_ = std::move(o.pidfd_);
    reaped_ = o.reaped_;
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  kill_and_reap();
}

void ChildProcess::kill_and_reap() {
  if (pid_ > 0 && !reaped_ && pidfd_) {
    (void)syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
    siginfo_t info;
    while (waitid(P_PIDFD, pidfd_.get(), &info, WEXITED) != 0 && errno == EINTR) {
    }
  }
  reaped_ = true;
}

Result<void> ChildProcess::signal(int sig) const {
  if (!running()) return make_error("signal", "pid " + std::to_string(pid_), "already reaped");
  if (syscall(SYS_pidfd_send_signal, pidfd_.get(), sig, nullptr, 0) != 0)
    return system_error("pidfd_send_signal", "pid " + std::to_string(pid_));
  return ok();
}

Result<std::optional<ExitStatus>> ChildProcess::wait(int timeout_ms) {
  if (reaped_) return make_error("wait", "pid " + std::to_string(pid_), "already reaped");
  pollfd p = {pidfd_.get(), POLLIN, 0};
  for (;;) {
    int n = poll(&p, 1, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return system_error("poll", "pidfd of " + std::to_string(pid_));
    if (n == 0) return std::optional<ExitStatus>{};
    break;
  }
  siginfo_t info;
  std::memset(&info, 0, sizeof info);
  while (waitid(P_PIDFD, pidfd_.get(), &info, WEXITED) != 0) {
    if (errno == EINTR) continue;
    return system_error("waitid", "pid " + std::to_string(pid_));
  }
  reaped_ = true;
  ExitStatus st;
  if (info.si_code == CLD_EXITED) {
    st.code = info.si_status;
  } else {
    st.signaled = true;
    st.code = info.si_status;
  }
  return std::optional<ExitStatus>{st};
}

Result<ChildProcess> spawn_process(const CloneOptions& options,
                                   const std::function<int()>& child_main) {
  clone_args args;
  std::memset(&args, 0, sizeof args);
  int pidfd = -1;
  args.flags = options.flags | CLONE_PIDFD;
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  if (options.cgroup_fd >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<uint64_t>(options.cgroup_fd);
  }
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0 && options.cgroup_fd >= 0 &&
      (errno == EBADF || errno == EINVAL || errno == EOPNOTSUPP)) {
    // Some hosts refuse CLONE_INTO_CGROUP (v1-only hierarchies): place the child afterwards.
    args.flags &= ~uint64_t(CLONE_INTO_CGROUP);
    args.cgroup = 0;
    pid = syscall(SYS_clone3, &args, sizeof args);
  }
  if (pid < 0) return system_error("clone3", "sandbox init");
  if (pid == 0) {
    int code = child_main();
    _exit(code);
  }
  return ChildProcess(static_cast<pid_t>(pid), UniqueFd(pidfd));
}

int reap_children(int timeout_ms) {
  for (int waited = 0;; ++waited) {
    for (;;) {
      pid_t p = waitpid(-1, nullptr, WNOHANG | __WALL);
      if (p > 0) continue;
      if (p < 0 && errno == EINTR) continue;
      if (p < 0) return 0;  // ECHILD: nothing left
      break;                // children remain, none exited yet
    }
    if (waited >= timeout_ms) break;
    usleep(1000);
  }
  int alive = 0;
  // Count what is left without reaping it.
  siginfo_t info;
  while (true) {
    std::memset(&info, 0, sizeof info);
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) break;
    ++alive;
    break;
  }
  return alive;
}

namespace {

// The fields of /proc/PID/stat after the comm, which may hold spaces and parentheses.
Result<std::string> stat_fields(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  TRY_ASSIGN(std::string stat, read_file(path));
  size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size())
    return make_error("parse", path, "no comm");
  return stat.substr(close + 2);  // starts at field 3, the state
}

Result<uint64_t> start_time_of(const std::string& fields, pid_t pid) {
  size_t pos = 0;
  for (int field = 3; field < 22; ++field) {
    pos = fields.find(' ', pos);
    if (pos == std::string::npos)
      return make_error("parse", "/proc/" + std::to_string(pid) + "/stat", "short");
    ++pos;
  }
  return std::stoull(fields.substr(pos, fields.find(' ', pos) - pos));
}

}  // namespace

Result<uint64_t> process_start_time(pid_t pid) {
  TRY_ASSIGN(std::string fields, stat_fields(pid));
  return start_time_of(fields, pid);
}

bool process_alive(pid_t pid, uint64_t start_time) {
  if (pid <= 0) return false;
  auto fields = stat_fields(pid);
  if (!fields || fields->empty() || (*fields)[0] == 'Z' || (*fields)[0] == 'X') return false;
  auto start = start_time_of(*fields, pid);
  return start && *start == start_time;
}

}  // namespace clawcage::os
