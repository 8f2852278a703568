#include "support/run_clawcage.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace clawcage::test {

namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int64_t now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace

std::string read_text(const std::string& path) {
  return slurp(path);
}
std::string binary() {
  return CLAWCAGE_BINARY;
}
std::string testcases_dir() {
  return CLAWCAGE_TESTCASES;
}

std::string unique_name(const std::string& prefix) {
  static int counter = 0;
  return "t-" + prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
}

std::string make_temp_dir(const std::string& prefix) {
  std::string tmpl = "/tmp/clawcage-test-" + prefix + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  char* d = mkdtemp(buf.data());
  if (!d) return "";
  chmod(d, 0755);
  return d;
}

void remove_tree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

RunOutput run_clawcage(std::vector<std::string> args, int timeout_s, bool with_record,
                       const std::string& stdin_data) {
  RunOutput out;
  std::string record_path;
  if (with_record && !args.empty() && args[0] == "run") {
    record_path = "/tmp/clawcage-record-" + std::to_string(getpid()) + "-" +
                  std::to_string(now_ms()) + ".json";
    args.insert(args.begin() + 1, {"--record", record_path});
  }
  int o[2], e[2], i[2];
  if (pipe2(o, O_CLOEXEC) || pipe2(e, O_CLOEXEC) || pipe2(i, O_CLOEXEC)) return out;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(i[0], 0);
    dup2(o[1], 1);
    dup2(e[1], 2);
    std::vector<char*> argv;
    std::string bin = binary();
    argv.push_back(bin.data());
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(126);
  }
  close(o[1]);
  close(e[1]);
  close(i[0]);
  if (!stdin_data.empty()) (void)!write(i[1], stdin_data.data(), stdin_data.size());
  close(i[1]);
  int64_t deadline = now_ms() + int64_t(timeout_s) * 1000;
  bool open_o = true, open_e = true, timed_out = false;
  while (open_o || open_e) {
    int64_t left = deadline - now_ms();
    if (left <= 0) {
      timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    pollfd fds[2] = {{open_o ? o[0] : -1, POLLIN, 0}, {open_e ? e[0] : -1, POLLIN, 0}};
    if (poll(fds, 2, static_cast<int>(left)) <= 0) continue;
    char buf[65536];
    for (int k = 0; k < 2; ++k) {
      if (!(fds[k].revents & (POLLIN | POLLHUP))) continue;
      ssize_t n = read(fds[k].fd, buf, sizeof buf);
      if (n <= 0) {
        (k == 0 ? open_o : open_e) = false;
      } else {
        (k == 0 ? out.out : out.err).append(buf, n);
      }
    }
  }
  close(o[0]);
  close(e[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (timed_out)
    out.exit_code = -1;
  else if (WIFEXITED(status))
    out.exit_code = WEXITSTATUS(status);
  else
    out.exit_code = 128 + WTERMSIG(status);
  if (!record_path.empty()) {
    std::string text = slurp(record_path);
    unlink(record_path.c_str());
    if (!text.empty()) out.record = nlohmann::json::parse(text, nullptr, false);
  }
  return out;
}

pid_t start_clawcage(const std::vector<std::string>& args, const std::string& output_path) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  int out = open(output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  dup2(out, 1);
  dup2(out, 2);
  std::vector<std::string> copy = args;
  std::string bin = binary();
  std::vector<char*> argv = {bin.data()};
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  execv(bin.c_str(), argv.data());
  _exit(126);
}

RunOutput run_shell(const std::string& command) {
  RunOutput r;
  FILE* p = popen(command.c_str(), "r");
  if (!p) return r;
  char buf[65536];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
  int st = pclose(p);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

int free_loopback_port() {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  close(s);
  return ntohs(a.sin_port);
}

std::vector<std::string> leftover_cgroups(const std::string& needle) {
  std::vector<std::string> out;
  DIR* root = opendir("/sys/fs/cgroup");
  if (!root) return out;
  std::vector<std::string> hierarchies;
  while (dirent* h = readdir(root))
    if (h->d_name[0] != '.') hierarchies.push_back(std::string("/sys/fs/cgroup/") + h->d_name);
  closedir(root);
  hierarchies.push_back("/sys/fs/cgroup");  // pure v2
  for (const auto& h : hierarchies) {
    // clawcage/ and the OCI runtime's clawcage-root-<hash>/ parents.
    std::vector<std::string> parents = {h + "/clawcage"};
    if (DIR* top = opendir(h.c_str())) {
      while (dirent* e = readdir(top))
        if (std::string(e->d_name).rfind("clawcage-root-", 0) == 0)
          parents.push_back(h + "/" + e->d_name);
      closedir(top);
    }
    for (const auto& parent : parents) {
      DIR* d = opendir(parent.c_str());
      if (!d) continue;
      while (dirent* e = readdir(d)) {
        if (e->d_type != DT_DIR || e->d_name[0] == '.') continue;
        std::string name = e->d_name;
        if (needle.empty() || name.find(needle) != std::string::npos)
          out.push_back(parent + "/" + name);
      }
      closedir(d);
    }
  }
  return out;
}

std::vector<std::string> leftover_mounts(const std::string& needle) {
  std::vector<std::string> out;
  std::istringstream in(slurp("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(in, line))
    if (line.find(needle) != std::string::npos) out.push_back(line);
  return out;
}

std::vector<int> processes_in_sandbox_cgroups(const std::string& needle) {
  std::vector<int> out;
  DIR* d = opendir("/proc");
  while (dirent* e = d ? readdir(d) : nullptr) {
    int pid = atoi(e->d_name);
    if (pid <= 0) continue;
    std::string cg = slurp("/proc/" + std::to_string(pid) + "/cgroup");
    std::string key = "/clawcage/" + needle;
    if (cg.find(key) != std::string::npos) out.push_back(pid);
  }
  if (d) closedir(d);
  return out;
}

std::vector<int> processes_with_cmdline(const std::string& needle) {
  std::vector<int> out;
  DIR* d = opendir("/proc");
  while (dirent* e = d ? readdir(d) : nullptr) {
    int pid = atoi(e->d_name);
    if (pid <= 0 || pid == getpid()) continue;
    std::string cmd = slurp("/proc/" + std::to_string(pid) + "/cmdline");
    for (auto& c : cmd)
      if (c == '\0') c = ' ';
    if (cmd.find(needle) != std::string::npos) out.push_back(pid);
  }
  if (d) closedir(d);
  return out;
}

}  // namespace clawcage::test
