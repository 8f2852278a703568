#include "linux/hooks.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/time_format.h"
#include "base/unique_fd.h"

namespace clawcage::os {

namespace {

constexpr size_t kOutputTail = 2048;

// In the forked child: becomes the hook or exits 127 with the reason on its stderr.
[[noreturn]] void become_hook(const HookCommand& hook, pid_t parent, int stdin_fd, int out_fd) {
  // Its own process group: a timeout kills the hook and whatever it started.
  setpgid(0, 0);
  // Dies with the runtime; the check closes the race with a parent that died before it.
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (getppid() != parent) _exit(127);
  if (dup2(stdin_fd, 0) != 0 || dup2(out_fd, 1) != 1 || dup2(out_fd, 2) != 2) _exit(127);
  // Nothing of the runtime's reaches the hook but these three (CVE-2024-21626 style leaks).
  syscall(SYS_close_range, 3U, ~0U, 0U);
  // Runners block signals for their signalfd and may ignore SIGPIPE: not the hook's business.
  for (int s = 1; s < NSIG; ++s)
    if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  std::vector<char*> argv, envp;
  if (hook.args.empty()) argv.push_back(const_cast<char*>(hook.path.c_str()));
  for (const auto& a : hook.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : hook.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  execve(hook.path.c_str(), argv.data(), envp.data());
  std::string msg = "exec " + hook.path + ": " + strerror(errno) + "\n";
  (void)!write(2, msg.data(), msg.size());
  _exit(127);
}

void keep_tail(std::string& out, const char* buf, size_t n) {
  out.append(buf, n);
  if (out.size() > kOutputTail) out.erase(0, out.size() - kOutputTail);
}

void drain(int fd, std::string& out) {
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      keep_tail(out, buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return;  // EOF or EAGAIN: a background child of the hook may still hold it
  }
}

// SIGKILLs the hook's process group and reaps the hook.
void kill_hook(pid_t pid) {
  kill(-pid, SIGKILL);
  kill(pid, SIGKILL);
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

std::string with_output(std::string detail, const std::string& output) {
  std::string o = output;
  while (!o.empty() && (o.back() == '\n' || o.back() == ' ')) o.pop_back();
  if (!o.empty()) detail += ": " + o;
  return detail;
}

}  // namespace

Result<void> run_hook(const HookCommand& hook, const std::string& state, int watch_fd) {
  std::string subject = hook.name + " (" + hook.path + ")";
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0) return system_error("pipe", subject);
  UniqueFd in_r(in[0]), in_w(in[1]);
  if (pipe2(out, O_CLOEXEC | O_NONBLOCK) != 0) return system_error("pipe", subject);
  UniqueFd out_r(out[0]), out_w(out[1]);
  // The whole state goes into the pipe before the hook starts: no partial write, no SIGPIPE
  // from a hook that never reads it.
  if (state.size() > 65536 && fcntl(in_w.get(), F_SETPIPE_SZ, static_cast<int>(state.size())) < 0)
    return system_error("size the state pipe of", subject);
  size_t done = 0;
  while (done < state.size()) {
    ssize_t n = write(in_w.get(), state.data() + done, state.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return system_error("write the state to", subject);
    done += static_cast<size_t>(n);
  }
  in_w.reset();
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return system_error("fork", subject);
  if (pid == 0) become_hook(hook, parent, in_r.get(), out_w.get());
  in_r.reset();
  out_w.reset();
  // A pidfd tells the exit at once; under a seccomp profile without pidfd_open, poll often.
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  int64_t deadline = hook.timeout_s > 0 ? monotonic_ms() + int64_t(hook.timeout_s) * 1000 : -1;
  std::string output;
  int status = 0;
  for (;;) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) return system_error("waitpid", subject);
    int wait = pidfd ? -1 : 10;
    if (deadline >= 0) {
      int64_t left = deadline - monotonic_ms();
      if (left <= 0) {
        kill_hook(pid);
        drain(out_r.get(), output);
        return make_error("run hook", subject,
                          with_output("timed out after " + std::to_string(hook.timeout_s) +
                                          " s (killed with its process group)",
                                      output));
      }
      wait = wait < 0 ? static_cast<int>(left) : std::min<int64_t>(wait, left);
    }
    pollfd fds[3] = {{out_r.get(), POLLIN, 0}, {pidfd.get(), POLLIN, 0}, {watch_fd, POLLRDHUP, 0}};
    int n = poll(fds, 3, wait);
    if (n < 0 && errno != EINTR) return system_error("poll", subject);
    if (n <= 0) continue;
    if (fds[0].revents & POLLIN) drain(out_r.get(), output);
    // Output closed (POLLHUP) but the hook still runs: stop polling it.
    if ((fds[0].revents & POLLHUP) && !(fds[0].revents & POLLIN)) out_r.reset();
    if (watch_fd >= 0 && (fds[2].revents & (POLLRDHUP | POLLHUP | POLLERR))) {
      kill_hook(pid);
      return make_error("run hook", subject, "the runtime went away: killed");
    }
  }
  if (out_r) drain(out_r.get(), output);
  if (WIFSIGNALED(status))
    return make_error("run hook", subject,
                      with_output("killed by signal " + std::to_string(WTERMSIG(status)), output));
  if (WEXITSTATUS(status) != 0)
    return make_error(
        "run hook", subject,
        with_output("exited with code " + std::to_string(WEXITSTATUS(status)), output));
  return ok();
}

Result<void> run_hooks(const std::vector<HookCommand>& hooks, const std::string& state,
                       int watch_fd) {
  for (const auto& h : hooks) TRY(run_hook(h, state, watch_fd));
  return ok();
}

}  // namespace clawcage::os
