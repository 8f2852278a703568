#include "support/daemon_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/run_clawcage.h"

extern char** environ;

namespace clawcage::test {

namespace {

constexpr const char* kCgroupRoot = "/sys/fs/cgroup";

int64_t now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, nullptr);
}

bool is_dir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Names in a directory ("." and ".." left out); only subdirectories when dirs_only.
std::vector<std::string> entries(const std::string& path, bool dirs_only) {
  std::vector<std::string> out;
  DIR* d = opendir(path.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (dirs_only && !is_dir(path + "/" + name)) continue;
    out.push_back(name);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

bool write_text(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

std::vector<pid_t> cgroup_procs(const std::string& dir) {
  std::vector<pid_t> out;
  std::istringstream in(read_text(dir + "/cgroup.procs"));
  pid_t pid;
  while (in >> pid) out.push_back(pid);
  return out;
}

// Every cgroup directory below dir (dir excluded), deepest first.
void subtree(const std::string& dir, std::vector<std::string>& out) {
  for (const auto& name : entries(dir, true)) {
    subtree(dir + "/" + name, out);
    out.push_back(dir + "/" + name);
  }
}

// The pid that listens on the unix socket at path (SO_PEERCRED: the process that called
// listen()), or 0 when nothing accepts a connection there.
pid_t socket_listener(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return 0;
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  pid_t pid = 0;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) pid = cred.pid;
  }
  ::close(fd);
  return pid;
}

// State letter and parent pid from /proc/PID/stat; false when the process is gone.
bool proc_state(pid_t pid, char& state, pid_t& ppid) {
  std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return false;
  std::istringstream fields(stat.substr(paren + 2));
  return static_cast<bool>(fields >> state >> ppid);
}

// DaemonProcess objects in this process: the test is a child subreaper while any lives.
std::atomic<int> g_instances{0};

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by ") + strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

}  // namespace

pid_t socket_listener_pid(const std::string& path) {
  return socket_listener(path);
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : "\n  ") + l;
  return out;
}

DaemonProcess::DaemonProcess() {
  static std::atomic<int> counter{0};
  std::string name = "clawcaged-test-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
  root_ = "/tmp/" + name;
  parent_ = name;
  std::error_code ec;
  std::filesystem::remove_all(root_, ec);
  std::filesystem::create_directories(root_, ec);
  chmod(root_.c_str(), 0755);
  // Sandbox inits outlive a killed daemon; as a subreaper the test, not pid 1 (which may
  // reap late), inherits them, and reaps them itself (reap_orphans).
  if (g_instances++ == 0) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

void DaemonProcess::reap_orphans() {
  std::string needle = "/" + parent_ + "/";
  for (const auto& name : entries("/proc", false)) {
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = std::atoi(name.c_str());
    char state = 0;
    pid_t ppid = 0;
    if (pid == pid_ || !proc_state(pid, state, ppid) || ppid != getpid() || state != 'Z') continue;
    if (read_text("/proc/" + name + "/cgroup").find(needle) == std::string::npos) continue;
    waitpid(pid, nullptr, WNOHANG);
  }
}

DaemonProcess::~DaemonProcess() {
  teardown();
}

void DaemonProcess::write_config(const std::string& json) {
  std::string path = root_ + "/config.json";
  std::ofstream(path) << json;
  extra_args.push_back("--config");
  extra_args.push_back(path);
}

std::string DaemonProcess::log() const {
  return read_text(log_path());
}

::testing::AssertionResult DaemonProcess::start(int timeout_ms) {
  if (pid_ > 0) return ::testing::AssertionFailure() << "the daemon is already running";
  std::vector<std::string> args = {binary(),          "daemon",   "--socket",    socket_path(),
                                   "--data-dir",      data_dir(), "--run-dir",   run_dir(),
                                   "--cgroup-parent", parent_,    "--audit-log", audit_log()};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  // The test's environment, less anything that would steer the daemon, plus extra_env.
  std::vector<std::string> env;
  auto overridden = [&](const std::string& entry) {
    std::string name = entry.substr(0, entry.find('='));
    if (name == "CLAWCAGE_DAEMON_CRASH_AT" || name == "CLAWCAGE_SOCKET") return true;
    for (const auto& e : extra_env)
      if (e.substr(0, e.find('=')) == name) return true;
    return false;
  };
  for (char** e = environ; e && *e; ++e)
    if (!overridden(*e)) env.push_back(*e);
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string log = log_path();

  pid_t pid = fork();
  if (pid < 0) return ::testing::AssertionFailure() << "fork: " << strerror(errno);
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    int in = ::open("/dev/null", O_RDONLY);
    int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (in < 0 || out < 0) _exit(126);
    dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  pid_ = pid;
  int64_t deadline = now_ms() + timeout_ms;
  for (int round = 0; round < timeout_ms / 10 + 1 && now_ms() < deadline; ++round) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return ::testing::AssertionFailure() << "the daemon " << describe_status(status)
                                           << " before serving " << socket_path() << "; its log:\n"
                                           << this->log();
    }
    // Served by this daemon, not by an older socket someone still holds open (a sandbox
    // init that a killed daemon had cloned keeps its listening fd until it exits).
    // The daemon we started, or (--keeper) the daemon its keeper runs as a child.
    pid_t listener = socket_listener(socket_path());
    char state = 0;
    pid_t parent = 0;
    if (listener > 0 &&
        (listener == pid_ || (proc_state(listener, state, parent) && parent == pid_)))
      return ::testing::AssertionSuccess();
    sleep_ms(10);
  }
  kill9();
  return ::testing::AssertionFailure() << "the daemon did not serve " << socket_path() << " within "
                                       << timeout_ms << " ms; its log:\n"
                                       << this->log();
}

::testing::AssertionResult DaemonProcess::stop(int timeout_ms) {
  if (pid_ <= 0) return ::testing::AssertionSuccess();
  ::kill(pid_, SIGTERM);
  int status = 0;
  if (wait_exit(timeout_ms, &status)) {
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "the daemon " << describe_status(status) << " on SIGTERM; its log:\n"
           << log();
  }
  kill9();
  return ::testing::AssertionFailure()
         << "the daemon did not stop within " << timeout_ms << " ms of SIGTERM; its log:\n"
         << log();
}

void DaemonProcess::kill9() {
  if (pid_ <= 0) return;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    // It died on its own: worth knowing when a test fails.
    exit_note_ +=
        "daemon pid " + std::to_string(pid_) + " had " + describe_status(status) + " by itself\n";
    pid_ = -1;
    return;
  }
  ::kill(pid_, SIGKILL);
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

bool DaemonProcess::wait_exit(int timeout_ms, int* wait_status) {
  if (pid_ <= 0) return true;
  // A pidfd wakes us the moment the daemon dies (a crash-point test looks at what is left
  // right then); polling in steps is the fallback.
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
  int64_t deadline = now_ms() + timeout_ms;
  for (int round = 0; round < timeout_ms / 10 + 2; ++round) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) {
      pid_ = -1;
      if (wait_status) *wait_status = status;
      if (pidfd >= 0) ::close(pidfd);
      return true;
    }
    int64_t left = deadline - now_ms();
    if (left <= 0) break;
    if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 10)));
    } else {
      sleep_ms(10);
    }
  }
  if (pidfd >= 0) ::close(pidfd);
  return false;
}

std::vector<std::string> DaemonProcess::hierarchy_parents() const {
  std::vector<std::string> out;
  for (const auto& h : entries(kCgroupRoot, true)) {
    std::string p = std::string(kCgroupRoot) + "/" + h + "/" + parent_;
    if (is_dir(p)) out.push_back(p);
  }
  std::string v2 = std::string(kCgroupRoot) + "/" + parent_;  // a pure cgroup2 host
  if (is_dir(v2)) out.push_back(v2);
  return out;
}

std::vector<std::string> DaemonProcess::leftovers() {
  reap_orphans();
  std::vector<std::string> out;
  for (const auto& p : hierarchy_parents())
    for (const auto& name : entries(p, true)) out.push_back("cgroup " + p + "/" + name);
  std::string sandboxes = run_dir() + "/sandboxes";
  for (const auto& name : entries(sandboxes, false))
    out.push_back("state dir " + sandboxes + "/" + name);
  std::string needle = "/" + parent_ + "/";
  for (const auto& name : entries("/proc", false)) {
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cg = read_text("/proc/" + name + "/cgroup");
    if (cg.find(needle) == std::string::npos) continue;
    std::string cmd = read_text("/proc/" + name + "/cmdline");
    std::replace(cmd.begin(), cmd.end(), '\0', ' ');
    out.push_back("process " + name + " (" + cmd + ")");
  }
  std::istringstream mounts(read_text("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(mounts, line))
    if (line.find(root_) != std::string::npos) out.push_back("mount " + line);
  return out;
}

void DaemonProcess::teardown() {
  if (torn_down_) return;
  torn_down_ = true;
  kill9();
  if (::testing::Test::HasFailure()) {
    std::string text = log();
    if (text.size() > 8192) text = "...\n" + text.substr(text.size() - 8192);
    fprintf(stderr, "--- log of daemon %s ---\n%s%s--- end of log ---\n", parent_.c_str(),
            text.c_str(), exit_note_.c_str());
  }
  // Kill whatever still runs in the task cgroups (sandboxes outlive the daemon by design).
  for (int round = 0; round < 200; ++round) {
    bool any = false;
    for (const auto& p : hierarchy_parents()) {
      std::vector<std::string> dirs;
      subtree(p, dirs);
      for (const auto& dir : dirs) {
        // cgroup2 (the unified dir of a hybrid host too) kills the whole subtree at once.
        if (access((dir + "/cgroup.kill").c_str(), W_OK) == 0)
          write_text(dir + "/cgroup.kill", "1");
        // A v1 freezer left frozen by a killed daemon would hold SIGKILL back.
        if (access((dir + "/freezer.state").c_str(), W_OK) == 0)
          write_text(dir + "/freezer.state", "THAWED");
        for (pid_t pid : cgroup_procs(dir)) {
          any = true;
          ::kill(pid, SIGKILL);
        }
      }
    }
    if (!any) break;
    sleep_ms(10);
  }
  // What was killed and reparented to us: reaped, so no zombie names our cgroups.
  for (int round = 0; round < 100; ++round) {
    reap_orphans();
    bool zombies = false;
    std::string needle = "/" + parent_ + "/";
    for (const auto& name : entries("/proc", false)) {
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      char state = 0;
      pid_t ppid = 0;
      if (proc_state(std::atoi(name.c_str()), state, ppid) && ppid == getpid() &&
          read_text("/proc/" + name + "/cgroup").find(needle) != std::string::npos)
        zombies = true;
    }
    if (!zombies) break;
    sleep_ms(10);
  }
  // Remove the cgroups, deepest first, then the parents (bounded retries: a killed process
  // leaves its cgroup a moment after the signal).
  for (int round = 0; round < 200; ++round) {
    bool left = false;
    for (const auto& p : hierarchy_parents()) {
      std::vector<std::string> dirs;
      subtree(p, dirs);
      dirs.push_back(p);
      for (const auto& dir : dirs)
        if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) left = true;
    }
    if (!left) break;
    sleep_ms(10);
  }
  // Mounts naming the root (none expected), deepest first, then the files.
  std::vector<std::string> points;
  std::istringstream mounts(read_text("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(mounts, line)) {
    std::istringstream fields(line);
    std::string id, parent, devs, root, point;
    fields >> id >> parent >> devs >> root >> point;
    if (point.rfind(root_, 0) == 0) points.push_back(point);
  }
  std::sort(points.begin(), points.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const auto& p : points) umount2(p.c_str(), MNT_DETACH);
  std::error_code ec;
  std::filesystem::remove_all(root_, ec);
  if (--g_instances == 0) prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
}

}  // namespace clawcage::test
