// clawcage daemon: the orchestrator and its API (see src/api/server.h, docs/api.md).
#include <iostream>

#include "api/server.h"
#include "cli/commands.h"
#include "orchestrator/config.h"

namespace clawcage::cli {

namespace {

struct DaemonFlags {
  std::string config_file;
  std::string socket, data_dir, run_dir, cgroup_parent, journal_sync;
  std::vector<std::string> volumes;
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
  if (f.journal_sync == "normal") config.journal_sync = orchestrator::Journal::Sync::normal;
  for (const auto& text : f.volumes) {
    auto v = parse_volume_flag(text);
    if (!v) return fail(v.error());
    config.volumes.push_back(std::move(*v));
  }
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
  c->add_option("--journal-sync", f->journal_sync, "full (default: fsync per commit) or normal")
      ->check(CLI::IsMember({"full", "normal"}));
  c->add_option("--volume", f->volumes, "NAME=PATH[:shared|:agent=AGENT] named volume")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  c->callback([f, &exit_code]() { exit_code = run(*f); });
}

}  // namespace clawcage::cli
