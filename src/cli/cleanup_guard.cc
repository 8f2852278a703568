#include "cli/cleanup_guard.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

namespace clawcage::cli {

namespace {

struct GuardArgs {
  int read_fd;
  int write_fd;
  char* argv[5];
};

// Runs on its own small stack in the runner's address space (CLONE_VM: no page tables are
// copied). It only makes raw syscalls until it either exits or execs a fresh clawcage:
// if the runner died holding a lock (malloc's, say), nothing here may take it.
int guard_main(void* raw) {
  auto* args = static_cast<GuardArgs*>(raw);
  // The guard has its own copy of the fd table: drop the write end (or EOF never comes) and
  // the runner's stdin/stdout (whoever reads them sees EOF when the runner goes).
  syscall(SYS_close, args->write_fd);
  syscall(SYS_close, 0);
  syscall(SYS_close, 1);
  char byte = 0;
  long n;
  do {
    n = syscall(SYS_read, args->read_fd, &byte, 1);
  } while (n < 0 && errno == EINTR);
  if (n == 1 && byte == 'd') syscall(SYS_exit, 0);
  // EOF without "done": the runner died. A new process removes the sandbox by name.
  static char* const envp[] = {nullptr};
  syscall(SYS_execve, "/proc/self/exe", args->argv, envp);
  syscall(SYS_exit, 127);
  return 0;
}

}  // namespace

Result<CleanupGuard> CleanupGuard::start(const std::string& id) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return system_error("pipe2", "cleanup guard");
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  // Lives as long as the guard may: until this process exits (the guard then holds the
  // address space alone, or has exec'd).
  static constexpr size_t kStack = 64 * 1024;
  void* stack =
      mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return system_error("mmap", "cleanup guard stack");
  static std::string argv_store[4];
  argv_store[0] = "clawcage";
  argv_store[1] = "gc";
  argv_store[2] = "--reap";
  argv_store[3] = id;
  static GuardArgs args;
  args = {fds[0],
          fds[1],
          {argv_store[0].data(), argv_store[1].data(), argv_store[2].data(), argv_store[3].data(),
           nullptr}};
  // Signals stay blocked as the caller set them; the guard leaves the runner's process
  // group so a terminal's SIGINT to the group does not reach it.
  pid_t pid = clone(guard_main, static_cast<char*>(stack) + kStack, CLONE_VM | SIGCHLD, &args);
  if (pid < 0) {
    munmap(stack, kStack);
    return system_error("clone", "cleanup guard");
  }
  setpgid(pid, pid);
  read_end.reset();
  CleanupGuard g;
  g.pipe_ = std::move(write_end);
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
