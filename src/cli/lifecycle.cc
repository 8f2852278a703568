// The OCI lifecycle as separate commands, runc-style: create leaves the init waiting on an
// exec fifo, start releases it, state/kill/delete find it by id.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>

#include "base/files.h"
#include "cli/commands.h"
#include "engine/sandbox.h"
#include "linux/cgroup.h"
#include "policy/task_request.h"
#include "spec/parse.h"

namespace clawcage::cli {

namespace {

int report(const char* verb, const Result<void>& r) {
  if (r) return 0;
  std::cerr << "clawcage " << verb << ": " << r.error().message() << "\n";
  return 1;
}

Result<int> parse_signal(const std::string& name) {
  if (name.empty()) return SIGTERM;
  if (isdigit(static_cast<unsigned char>(name[0]))) {
    int n = std::atoi(name.c_str());
    if (n <= 0 || n >= NSIG) return invalid_field("signal", "out of range: " + name);
    return n;
  }
  std::string bare = name.rfind("SIG", 0) == 0 ? name.substr(3) : name;
  for (int s = 1; s < NSIG; ++s) {
    const char* abbrev = sigabbrev_np(s);
    if (abbrev && bare == abbrev) return s;
  }
  return invalid_field("signal", "unknown signal \"" + name + "\"");
}

int create(policy::TaskRequest& f, const std::string& pid_file) {
  std::vector<std::string> controls;
  std::string tier;
  if (f.bundle.empty()) f.bundle = ".";
  auto opts = policy::build_create_options(f, controls, tier);
  if (!opts) return report("create", opts.error());
  opts->detached = true;
  auto cgroups = os::CgroupManager::detect();
  if (!cgroups) return report("create", cgroups.error());
  auto sb = engine::Sandbox::create(**cgroups, std::move(opts).value());
  if (!sb) return report("create", sb.error());
  if (!pid_file.empty()) {
    auto fd = open_file(pid_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (!fd) return report("create", fd.error());
    std::string pid = std::to_string(sb->pid());
    if (::write(fd->get(), pid.data(), pid.size()) < 0)
      return report("create", system_error("write", pid_file));
  }
  sb->detach();
  return 0;
}

template <typename Flags>
int exec(Flags& x) {
  if (x.tty || !x.console_socket.empty())
    return report("exec", invalid_field("--tty", "terminals are not supported by exec yet"));
  engine::ExecOptions o;
  o.state_root = kStateRoot;
  o.id = x.id;
  o.args = x.command;
  for (const auto& a : trailing_command()) o.args.push_back(a);
  o.env = x.env;
  if (!x.cwd.empty()) o.cwd = x.cwd;
  if (!x.process_file.empty()) {
    auto text = read_file(x.process_file);
    if (!text) return report("exec", text.error());
    auto p = spec::parse_process_json(*text, x.process_file);
    if (!p) return report("exec", p.error());
    o.process = std::move(p).value();
  }
  if (!x.user.empty()) {
    auto ids = policy::parse_uid_gid(x.user, "--user");
    if (!ids) return report("exec", ids.error());
    o.user = *ids;
  }
  // A detached exec outlives this command, as runc's does.
  o.die_with_parent = !x.detach;
  auto cgroups = os::CgroupManager::detect();
  if (!cgroups) return report("exec", cgroups.error());
  auto child = engine::exec_in_sandbox(**cgroups, o);
  if (!child) {
    report("exec", child.error());
    // As a shell says it: 127 not found, 126 not runnable.
    const Error& e = child.error();
    if (e.operation == "exec" && e.code == ENOENT) return 127;
    if (e.operation == "exec" && (e.code == EACCES || e.code == ENOEXEC)) return 126;
    return 1;
  }
  if (!x.pid_file.empty()) {
    auto r = create_file(x.pid_file, std::to_string(child->pid()), 0644);
    if (!r) return report("exec", r.error());
  }
  if (x.detach) {
    child->release();
    return 0;
  }
  auto status = child->wait(-1);
  if (!status) return report("exec", status.error());
  return (*status)->shell_code();
}

}  // namespace

void add_lifecycle_commands(CLI::App& top, int& exit_code) {
  // The OCI lifecycle verbs live under `clawcage oci` (runc's verbs); `clawcage kill` and
  // friends at the top level talk to the daemon.
  CLI::App& app =
      *top.add_subcommand("oci", "OCI runtime verbs: create start state kill delete list");
  app.require_subcommand(1);
  auto f = std::make_shared<policy::TaskRequest>();
  auto pid_file = std::make_shared<std::string>();
  CLI::App* c =
      app.add_subcommand("create", "create a sandbox from an OCI bundle; its init waits for start");
  c->add_option("--bundle,-b", f->bundle, "bundle directory (default .)");
  c->add_option("--isolate", f->isolate,
                "tier (default: the bundle's run.clawcage.tier, else container)")
      ->each([f](const std::string&) { f->isolate_given = true; });
  c->add_option("--pid-file", *pid_file, "write the init's pid here");
  c->add_option("id", f->task, "sandbox id")->required();
  c->callback([f, pid_file, &exit_code] {
    f->command = trailing_command();  // `create ID -- CMD...` overrides process.args
    exit_code = create(*f, *pid_file);
  });

  auto id = std::make_shared<std::string>();
  CLI::App* s = app.add_subcommand("start", "start a created sandbox");
  s->add_option("id", *id, "sandbox id")->required();
  s->callback(
      [id, &exit_code] { exit_code = report("start", engine::start_detached(kStateRoot, *id)); });

  CLI::App* st = app.add_subcommand("state", "print a sandbox's OCI state as JSON");
  st->add_option("id", *id, "sandbox id")->required();
  st->callback([id, &exit_code] {
    auto r = engine::load_state(kStateRoot, *id);
    if (!r) {
      exit_code = report("state", r.error());
      return;
    }
    std::cout << engine::state_to_json(*r) << "\n";
    exit_code = 0;
  });

  auto signal = std::make_shared<std::string>();
  CLI::App* k = app.add_subcommand("kill", "signal a sandbox (SIGKILL kills its whole cgroup)");
  k->add_option("id", *id, "sandbox id")->required();
  k->add_option("signal", *signal, "signal name or number (default SIGTERM)");
  k->callback([id, signal, &exit_code] {
    auto sig = parse_signal(*signal);
    if (!sig) {
      exit_code = report("kill", sig.error());
      return;
    }
    auto cgroups = os::CgroupManager::detect();
    if (!cgroups) {
      exit_code = report("kill", cgroups.error());
      return;
    }
    exit_code = report("kill", engine::kill_detached(**cgroups, kStateRoot, *id, *sig));
  });

  auto json = std::make_shared<bool>(false);
  CLI::App* l = app.add_subcommand("list", "list sandboxes: id, status, pid, bundle");
  l->add_flag("--json", *json, "one JSON array of OCI states");
  l->callback([json, &exit_code] {
    std::vector<std::string> ids;
    if (DIR* d = opendir(kStateRoot)) {
      while (dirent* e = readdir(d))
        if (e->d_name[0] != '.') ids.push_back(e->d_name);
      closedir(d);
    }
    std::sort(ids.begin(), ids.end());
    std::string out = *json ? "[" : "ID\tSTATUS\tPID\tBUNDLE\n";
    bool first = true;
    for (const auto& i : ids) {
      auto st = engine::load_state(kStateRoot, i);
      if (!st) continue;  // removed meanwhile, or not ours
      if (*json) {
        out += (first ? "" : ",") + engine::state_to_json(*st);
      } else {
        out +=
            st->id + "\t" + st->status + "\t" + std::to_string(st->pid) + "\t" + st->bundle + "\n";
      }
      first = false;
    }
    if (*json) out += "]\n";
    std::cout << out;
    exit_code = 0;
  });

  struct ExecFlags {
    std::string id, process_file, cwd, user, pid_file, console_socket;
    std::vector<std::string> env, command;
    bool detach = false, tty = false;
  };
  auto x = std::make_shared<ExecFlags>();
  CLI::App* e = app.add_subcommand(
      "exec", "run a process inside a running sandbox, contained as its init (runc exec)");
  e->add_option("--process,-p", x->process_file, "a JSON process object (runc's process.json)");
  e->add_option("--env,-e", x->env, "NAME=VALUE (repeatable)");
  e->add_option("--cwd", x->cwd, "working directory inside the sandbox");
  e->add_option("--user,-u", x->user, "UID[:GID] inside the sandbox");
  e->add_flag("--detach,-d", x->detach, "do not wait for the process");
  e->add_option("--pid-file", x->pid_file, "write the process's pid here");
  e->add_flag("--tty,-t", x->tty, "not supported yet");
  e->add_option("--console-socket", x->console_socket, "not supported yet");
  e->add_option("id", x->id, "sandbox id")->required();
  e->add_option("command", x->command, "command (or after --)");
  one_value_per_use(e);
  e->callback([x, &exit_code] { exit_code = exec(*x); });

  auto force = std::make_shared<bool>(false);
  CLI::App* d = app.add_subcommand("delete", "remove a stopped sandbox (--force: kill it first)");
  d->add_option("id", *id, "sandbox id")->required();
  d->add_flag("--force,-f", *force, "kill a live sandbox first");
  d->callback([id, force, &exit_code] {
    auto cgroups = os::CgroupManager::detect();
    if (!cgroups) {
      exit_code = report("delete", cgroups.error());
      return;
    }
    exit_code = report("delete", engine::delete_detached(**cgroups, kStateRoot, *id, *force));
  });
}

}  // namespace clawcage::cli
