// clawcage daemon: the orchestrator and its API (see src/api/server.h, docs/api.md).
// With --keeper, a small parent process (a child subreaper) runs the daemon as its child,
// restarts it when it crashes, and records the exit status of every sandbox init orphaned by
// the crash, so the restarted daemon closes those tasks with their true result, not "lost".
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iostream>
#include <optional>

#include "base/files.h"
#include "linux/process.h"

#include "api/server.h"
#include "cli/commands.h"
#include "orchestrator/config.h"

namespace clawcage::cli {

namespace {

struct DaemonFlags {
  std::string config_file;
  std::string socket, data_dir, run_dir, cgroup_parent, journal_sync;
  std::optional<std::string> audit_log;
  std::vector<std::string> volumes;
  bool keeper = false;
};

// NAME=PATH[:shared|:agent=AGENT]
Result<orchestrator::VolumeConfig> parse_volume_flag(const std::string& text) {
  orchestrator::VolumeConfig v;
  size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    return invalid_field("--volume",
                         "expected NAME=PATH[:shared|:agent=AGENT], got \"" + text + "\"");
  v.name = text.substr(0, eq);
  std::string rest = text.substr(eq + 1);
  size_t colon = rest.find(':');
  v.path = rest.substr(0, colon);
  if (colon != std::string::npos) {
    std::string opt = rest.substr(colon + 1);
    if (opt == "shared")
      v.shared = true;
    else if (opt.rfind("agent=", 0) == 0 && opt.size() > 6)
      v.agent = opt.substr(6);
    else
      return invalid_field("--volume", "unknown option \"" + opt + "\" (shared or agent=AGENT)");
  }
  if (v.path.empty() || v.path[0] != '/')
    return invalid_field("--volume", "PATH must be absolute in \"" + text + "\"");
  return v;
}

// The keeper: runs the daemon as its child and outlives its crashes.
int keep(orchestrator::DaemonConfig config) {
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, sig);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  if (sfd < 0 || !make_dirs(config.run_dir, 0711)) {
    std::cerr << "clawcage daemon --keeper: cannot set up\n";
    return 125;
  }
  std::string exits = config.run_dir + "/keeper-exits";
  auto spawn = [&]() -> pid_t {
    pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
      close(sfd);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      auto r = api::run_daemon(config);
      if (!r) {
        std::cerr << "clawcage daemon: " << r.error().message() << "\n";
        _exit(125);
      }
      _exit(*r);
    }
    return pid;
  };
  pid_t daemon = spawn();
  bool stopping = false;
  int crashes = 0;
  for (;;) {
    signalfd_siginfo info;
    if (read(sfd, &info, sizeof info) != sizeof info) continue;
    if (info.ssi_signo != SIGCHLD) {
      stopping = true;
      if (daemon > 0) kill(daemon, SIGTERM);
      continue;
    }
    for (;;) {
      siginfo_t si{};
      if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid == 0) break;
      pid_t pid = si.si_pid;
      // Read the start time while the zombie still has its /proc entry.
      auto start = os::process_start_time(pid);
      int status = 0;
      waitpid(pid, &status, 0);
      if (pid == daemon) {
        daemon = -1;
        if (stopping || (WIFEXITED(status) && WEXITSTATUS(status) == 0)) return 0;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 125 && ++crashes > 5) return 125;
        std::cerr << "clawcage daemon --keeper: the daemon died ("
                  << (WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                          : "exit " + std::to_string(WEXITSTATUS(status)))
                  << "); restarting it\n";
        usleep(200000);
        daemon = spawn();
        continue;
      }
      // An init orphaned by a daemon crash: its result, for the restarted daemon.
      std::string line = std::to_string(pid) + " " + std::to_string(start ? *start : 0) + " " +
                         (WIFSIGNALED(status) ? "1 " + std::to_string(WTERMSIG(status))
                                              : "0 " + std::to_string(WEXITSTATUS(status))) +
                         "\n";
      int fd = ::open(exits.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      if (fd >= 0) {
        (void)!::write(fd, line.data(), line.size());
        close(fd);
      }
    }
  }
}

int run(const DaemonFlags& f) {
  auto fail = [](const Error& e) {
    std::cerr << "clawcage daemon: " << e.message() << "\n";
    return 125;
  };
  orchestrator::DaemonConfig config;
  if (!f.config_file.empty()) {
    auto c = orchestrator::load_config(f.config_file);
    if (!c) return fail(c.error());
    config = std::move(*c);
  }
  if (!f.socket.empty()) config.socket = f.socket;
  if (!f.data_dir.empty()) config.data_dir = f.data_dir;
  if (!f.run_dir.empty()) config.run_dir = f.run_dir;
  if (!f.cgroup_parent.empty()) config.cgroup_parent = f.cgroup_parent;
  if (f.audit_log) config.audit_log = *f.audit_log;
  if (f.journal_sync == "normal") config.journal_sync = orchestrator::Journal::Sync::normal;
  for (const auto& text : f.volumes) {
    auto v = parse_volume_flag(text);
    if (!v) return fail(v.error());
    config.volumes.push_back(std::move(*v));
  }
  if (f.keeper) return keep(std::move(config));
  auto r = api::run_daemon(std::move(config));
  if (!r) return fail(r.error());
  return *r;
}

}  // namespace

void add_daemon_command(CLI::App& app, int& exit_code) {
  auto f = std::make_shared<DaemonFlags>();
  CLI::App* c = app.add_subcommand("daemon", "run the orchestrator and its API on a unix socket");
  c->add_option("--config", f->config_file, "daemon config (JSON; see deploy/daemon.json)");
  c->add_option("--socket", f->socket, "API socket (default /run/clawcage/api.sock)");
  c->add_option("--data-dir", f->data_dir,
                "journal, logs, outputs (default /var/lib/clawcage/daemon)");
  c->add_option("--run-dir", f->run_dir, "sandbox state dirs (default /run/clawcaged)");
  c->add_option("--cgroup-parent", f->cgroup_parent,
                "cgroup holding the tasks (default clawcaged)");
  c->add_option("--audit-log", f->audit_log,
                "hash-chained audit trail (default /var/log/clawcage/audit.jsonl; \"\": none)");
  c->add_option("--journal-sync", f->journal_sync, "full (default: fsync per commit) or normal")
      ->check(CLI::IsMember({"full", "normal"}));
  c->add_option("--volume", f->volumes, "NAME=PATH[:shared|:agent=AGENT] named volume")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  c->add_flag("--keeper", f->keeper,
              "run under a keeper process that restarts the daemon when it crashes and keeps "
              "the exit status of tasks that end meanwhile");
  c->callback([f, &exit_code]() { exit_code = run(*f); });
}

}  // namespace clawcage::cli
