#include "cli/cleanup_guard.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "linux/cgroup.h"

namespace clawcage::cli {

Result<CleanupGuard> CleanupGuard::start(const std::string& id, const std::string& state_root) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return system_error("pipe2", "cleanup guard");
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return system_error("fork", "cleanup guard");
  }
  if (pid == 0) {
    // Its own session: a signal to the runner's process group does not reach the guard.
    setsid();
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE}) signal(s, SIG_IGN);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    syscall(SYS_close_range, 0, fds[0] - 1, 0);
    syscall(SYS_close_range, fds[0] + 1, ~0U, 0);
    char byte = 0;
    ssize_t n;
    while ((n = read(fds[0], &byte, 1)) < 0 && errno == EINTR) {
    }
    if (n == 1 && byte == 'd') _exit(0);
    // The runner died with the sandbox still registered: remove it by name.
    auto mgr = os::CgroupManager::detect();
    if (mgr) {
      auto cg = (*mgr)->open(id);
      if (cg) (void)(*cg)->destroy();
    }
    std::string dir = state_root + "/" + id;
    unlink((dir + "/state.json").c_str());
    unlink((dir + "/state.json.tmp").c_str());
    rmdir(dir.c_str());
    _exit(0);
  }
  close(fds[0]);
  CleanupGuard g;
  g.pipe_.reset(fds[1]);
  g.pid_ = pid;
  return g;
}

void CleanupGuard::dismiss() {
  if (!pipe_) return;
  (void)!write(pipe_.get(), "d", 1);
  pipe_.reset();
  while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

}  // namespace clawcage::cli
