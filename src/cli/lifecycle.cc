// The OCI runtime front: runc's command line (global --root, --log, --log-format, --debug;
// create, start, run, state, kill, delete, exec, list, ps, pause, resume, features, spec),
// under `clawcage oci` and as the runtime itself when the binary is installed as
// clawcage-runc[-TIER] (main.cc). create leaves the init waiting on an exec fifo, start
// releases it, the others find the sandbox by id under --root. Unsupported flags and verbs
// fail with a message naming them, never silently.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "base/files.h"
#include "base/hash.h"
#include "base/time_format.h"
#include "cli/commands.h"
#include "engine/sandbox.h"
#include "linux/cgroup.h"
#include "policy/task_request.h"
#include "spec/parse.h"
#include "spec/tiers/tier.h"
#include "spec/validate.h"

namespace clawcage::cli {

std::string oci_cgroup_parent(const std::string& root) {
  if (root == kStateRoot) return "clawcage";
  return "clawcage-root-" + sha256_hex(root).substr(0, 8);
}

namespace {

using nlohmann::json;

// runc's global flags.
struct OciGlobals {
  std::string root = kStateRoot;
  std::string log;                  // errors (and --debug lines) go here too
  std::string log_format = "text";  // text or json (containerd's shim reads json)
  bool debug = false;
  bool systemd_cgroup = false;
  std::string rootless = "auto";
};

OciGlobals& globals() {
  static OciGlobals g;
  return g;
}

Result<std::unique_ptr<os::CgroupManager>> cgroups() {
  return os::CgroupManager::detect("/sys/fs/cgroup", oci_cgroup_parent(globals().root));
}

// A line in --log, in runc's formats: {"level","msg","time"} or logfmt.
void log_line(const char* level, const std::string& msg) {
  const OciGlobals& g = globals();
  if (g.log.empty()) return;
  std::string line;
  if (g.log_format == "json") {
    line = json{{"level", level}, {"msg", msg}, {"time", rfc3339_utc_now(9)}}.dump(
               -1, ' ', false, json::error_handler_t::replace) +
           "\n";
  } else {
    line = "time=\"" + rfc3339_utc_now(9) + "\" level=" + level +
           " msg=" + json(msg).dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  }
  int fd = ::open(g.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  (void)!::write(fd, line.data(), line.size());
  ::close(fd);
}

int report(const char* verb, const Result<void>& r) {
  if (r) return 0;
  std::string msg = std::string(verb) + ": " + r.error().message();
  std::cerr << "clawcage " << msg << "\n";
  log_line("error", msg);
  return 1;
}

void debug(const std::string& what) {
  if (globals().debug) log_line("debug", what);
}

// Failed poststart/poststop hooks: the spec says warn and go on.
void warn(const char* verb, const std::vector<std::string>& warnings) {
  for (const auto& w : warnings) {
    std::cerr << "clawcage " << verb << ": warning: " << w << "\n";
    log_line("warning", std::string(verb) + ": " + w);
  }
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

// The strongest tier an installed name (clawcage-runc-TIER) asks for; "" = none.
std::string& name_tier() {
  static std::string tier;
  return tier;
}

struct CreateFlags {
  policy::TaskRequest request;
  std::string pid_file, console_socket, pidfd_socket;
  bool no_pivot = false, no_new_keyring = false, detach = false, keep = false;
  int preserve_fds = 0;
};

// What runc takes but clawcage cannot do safely or at all: refused, naming the flag.
Result<void> refuse_unsupported(const CreateFlags& f) {
  if (!f.console_socket.empty())
    return invalid_field("--console-socket", "terminals are not supported yet");
  if (!f.pidfd_socket.empty()) return invalid_field("--pidfd-socket", "not supported yet");
  if (f.no_pivot)
    return invalid_field("--no-pivot",
                         "refused: without pivot_root, a process with CAP_SYS_CHROOT in the "
                         "sandbox can leave its rootfs");
  if (globals().systemd_cgroup)
    return invalid_field("--systemd-cgroup", "clawcage manages its cgroups itself (cgroupfs)");
  return ok();
}

Result<engine::CreateOptions> create_options(CreateFlags& f) {
  TRY(refuse_unsupported(f));
  policy::TaskRequest& r = f.request;
  r.state_root = globals().root;
  if (r.bundle.empty()) r.bundle = ".";
  // Without --isolate and without a tier annotation, the installed name's tier applies.
  if (!name_tier().empty() && !r.isolate_given) r.isolate = name_tier();
  std::vector<std::string> controls;
  std::string tier;
  TRY_ASSIGN(engine::CreateOptions o, policy::build_create_options(r, controls, tier));
  // runsc has an OCI front of its own; this one drives native sandboxes only (for now).
  if (engine::runs_under_runsc(o.spec))
    return invalid_field(
        r.isolate_given ? "--isolate" : "annotations." + std::string(spec::kTierAnnotation),
        "tier gvisor is not supported by the OCI runtime front (clawcage oci); "
        "run it with `clawcage run --isolate gvisor` or the daemon");
  if (!name_tier().empty()) {
    // The installed name is the operator's choice (one RuntimeClass per tier): a bundle may
    // ask for a stronger tier, never a weaker one.
    TRY_ASSIGN(spec::Tier floor, spec::parse_tier(name_tier()));
    TRY_ASSIGN(spec::Tier got, spec::parse_tier(tier));
    if (!spec::tier_at_least(got, floor))
      return invalid_field("annotations." + std::string(spec::kTierAnnotation),
                           "asks for tier " + tier + ", weaker than this runtime's " + name_tier());
  }
  o.preserve_fds = f.preserve_fds;
  debug("create " + o.id + " tier " + tier);
  return o;
}

int write_pid_file(const char* verb, const std::string& path, pid_t pid) {
  if (path.empty()) return 0;
  // Written whole, then renamed: a reader never sees a partial pid (containerd polls it).
  std::string tmp = path + ".tmp";
  auto r = create_file(tmp, std::to_string(pid), 0644);
  if (!r) return report(verb, r);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return report(verb, system_error("rename", path));
  return 0;
}

int create(CreateFlags& f) {
  auto opts = create_options(f);
  if (!opts) return report("create", opts.error());
  opts->detached = true;
  auto mgr = cgroups();
  if (!mgr) return report("create", mgr.error());
  auto sb = engine::Sandbox::create(**mgr, std::move(opts).value());
  if (!sb) return report("create", sb.error());
  if (int rc = write_pid_file("create", f.pid_file, sb->pid())) return rc;
  sb->detach();
  return 0;
}

// runc run: create and start; attached, it forwards signals to the init, waits, and deletes
// the sandbox (unless --keep), exiting with the payload's code.
int run(CreateFlags& f) {
  if (f.detach) {
    if (int rc = create(f)) return rc;
    std::vector<std::string> warnings;
    int rc = report("run", engine::start_detached(globals().root, f.request.task, &warnings));
    warn("run", warnings);
    return rc;
  }
  auto opts = create_options(f);
  if (!opts) return report("run", opts.error());
  auto mgr = cgroups();
  if (!mgr) return report("run", mgr.error());
  sigset_t forwarded;
  sigemptyset(&forwarded);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH})
    sigaddset(&forwarded, sig);
  sigprocmask(SIG_BLOCK, &forwarded, nullptr);
  UniqueFd sfd(signalfd(-1, &forwarded, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!sfd) return report("run", system_error("signalfd", "run"));
  auto sb = engine::Sandbox::create(**mgr, std::move(opts).value());
  if (!sb) return report("run", sb.error());
  if (int rc = write_pid_file("run", f.pid_file, sb->pid())) return rc;
  // Only what start and destroy add (failed poststart/poststop hooks) is printed.
  size_t warned = sb->warnings().size();
  if (auto s = sb->start(); !s) return report("run", s);
  warn("run", std::vector<std::string>(sb->warnings().begin() + warned, sb->warnings().end()));
  warned = sb->warnings().size();
  std::optional<os::ExitStatus> status;
  for (;;) {
    pollfd fds[2] = {{sb->pidfd(), POLLIN, 0}, {sfd.get(), POLLIN, 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) break;
    if (fds[1].revents & POLLIN) {
      signalfd_siginfo info;
      while (::read(sfd.get(), &info, sizeof info) == sizeof info)
        (void)sb->kill(static_cast<int>(info.ssi_signo));
    }
    if (fds[0].revents & POLLIN) {
      auto w = sb->wait(0);
      if (w && *w) status = **w;
      break;
    }
  }
  if (f.keep) {
    sb->detach();  // its state stays, as "stopped", for `delete`
  } else if (auto d = sb->destroy(); !d) {
    report("run", d);
  }
  if (sb->warnings().size() > warned)
    warn("run", std::vector<std::string>(sb->warnings().begin() + warned, sb->warnings().end()));
  return status ? status->shell_code() : 1;
}

std::string status_of(const engine::SandboxState& st, os::CgroupManager* mgr) {
  if (st.status != "running" || !mgr) return st.status;
  auto cg = mgr->open(st.id);
  if (cg) {
    auto frozen = (*cg)->frozen();
    if (frozen && *frozen) return "paused";
  }
  return st.status;
}

// Every process in the sandbox's cgroup (the init, exec'd and forked ones).
Result<std::vector<pid_t>> sandbox_pids(os::CgroupManager& mgr, const std::string& id) {
  TRY_ASSIGN(auto cg, mgr.open(id));
  std::vector<pid_t> pids;
  for (const auto& dir : cg->paths()) {
    auto text = read_file(dir + "/cgroup.procs");
    if (!text) continue;
    size_t pos = 0;
    while (pos < text->size()) {
      size_t eol = text->find('\n', pos);
      if (eol == std::string::npos) eol = text->size();
      pid_t pid = std::atoi(text->substr(pos, eol - pos).c_str());
      if (pid > 0 && std::find(pids.begin(), pids.end(), pid) == pids.end()) pids.push_back(pid);
      pos = eol + 1;
    }
  }
  std::sort(pids.begin(), pids.end());
  return pids;
}

std::string cmdline(pid_t pid) {
  auto text = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  if (!text) return "?";
  std::string s = *text;
  std::replace(s.begin(), s.end(), '\0', ' ');
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

// runc features: what this runtime implements, as the runtime-spec's features.md describes.
std::string features_json() {
  json f = {
      {"ociVersionMin", "1.0.0"},
      {"ociVersionMax", "1.1.0"},
      {"hooks",
       {"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}},
      {"mountOptions",
       {"bind",        "rbind",         "ro",      "rw",          "nosuid",   "suid",
        "nodev",       "dev",           "noexec",  "exec",        "private",  "rprivate",
        "slave",       "rslave",        "shared",  "rshared",     "relatime", "norelatime",
        "strictatime", "nostrictatime", "noatime", "atime",       "mode",     "size",
        "nr_inodes",   "uid",           "gid",     "newinstance", "ptmxmode", "gid",
        "tmpcopyup"}},
      {"linux",
       {{"namespaces", {"cgroup", "ipc", "mount", "network", "pid", "user", "uts"}},
        {"capabilities", spec::capability_names()},
        {"cgroup",
         {{"v1", true}, {"v2", true}, {"systemd", false}, {"systemdUser", false}, {"rdma", false}}},
        {"seccomp",
         {{"enabled", true},
          {"actions",
           {"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
            "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRAP", "SCMP_ACT_TRACE"}},
          {"operators",
           {"SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_GT",
            "SCMP_CMP_GE", "SCMP_CMP_MASKED_EQ"}},
          {"archs", {"SCMP_ARCH_X86_64"}}}},
        {"apparmor", {{"enabled", false}}},
        {"selinux", {{"enabled", false}}},
        {"intelRdt", {{"enabled", false}}},
        {"mountExtensions", {{"idmap", {{"enabled", false}}}}}}},
      {"annotations",
       {{"run.clawcage.tier",
         "chroot | container | strict (a tier; the installed name "
         "clawcage-runc-TIER sets the weakest allowed)"},
        {"run.clawcage.landlock-scope", "signal,abstract-unix[,required]"},
        {"run.clawcage.root-switch", "pivot_root | chroot"}}}};
  return f.dump(2);
}

template <typename Flags>
int exec(Flags& x) {
  if (x.tty || !x.console_socket.empty())
    return report("exec", invalid_field("--tty", "terminals are not supported by exec yet"));
  engine::ExecOptions o;
  o.state_root = globals().root;
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
  auto mgr = cgroups();
  if (!mgr) return report("exec", mgr.error());
  auto child = engine::exec_in_sandbox(**mgr, o);
  if (!child) {
    report("exec", child.error());
    // As a shell says it: 127 not found, 126 not runnable.
    const Error& e = child.error();
    if (e.operation == "exec" && e.code == ENOENT) return 127;
    if (e.operation == "exec" && (e.code == EACCES || e.code == ENOEXEC)) return 126;
    return 1;
  }
  if (int rc = write_pid_file("exec", x.pid_file, child->pid())) return rc;
  if (x.detach) {
    child->release();
    return 0;
  }
  auto status = child->wait(-1);
  if (!status) return report("exec", status.error());
  return (*status)->shell_code();
}

}  // namespace

void set_runtime_name_tier(const std::string& tier) {
  name_tier() = tier;
}

void add_lifecycle_commands(CLI::App& top, int& exit_code) {
  // The OCI runtime verbs live under `clawcage oci` (runc's); `clawcage kill` and friends at
  // the top level talk to the daemon.
  CLI::App& app = *top.add_subcommand(
      "oci",
      "the OCI runtime (runc's command line): create start run state kill delete exec "
      "list ps pause resume features spec");
  app.require_subcommand(1);
  OciGlobals& g = globals();
  app.add_option("--root", g.root, "state directory (default /run/clawcage)");
  app.add_option("--log", g.log, "append errors (and --debug lines) to this file");
  app.add_option("--log-format", g.log_format, "text (default) or json")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_flag("--debug", g.debug, "debug lines in --log");
  app.add_flag("--systemd-cgroup", g.systemd_cgroup, "refused: clawcage uses cgroupfs");
  app.add_option("--rootless", g.rootless, "true, false or auto (clawcage runs as root)");
  app.parse_complete_callback([&exit_code] {
    if (globals().root.empty() || globals().root.front() != '/')
      exit_code = report("oci", invalid_field("--root", "must be an absolute path"));
  });

  auto add_create_flags = [](CLI::App* c, const std::shared_ptr<CreateFlags>& f) {
    c->add_option("--bundle,-b", f->request.bundle, "bundle directory (default .)");
    c->add_option("--isolate", f->request.isolate,
                  "tier (default: the bundle's run.clawcage.tier, else container)")
        ->each([f](const std::string&) { f->request.isolate_given = true; });
    c->add_option("--pid-file", f->pid_file, "write the init's pid here");
    c->add_option("--console-socket", f->console_socket, "refused: no terminal support yet");
    c->add_option("--pidfd-socket", f->pidfd_socket, "refused: not supported yet");
    c->add_flag("--no-pivot", f->no_pivot, "refused: pivot_root is what keeps chroot escapes out");
    c->add_flag("--no-new-keyring", f->no_new_keyring,
                "accepted: clawcage never creates a session keyring (keyctl is denied)");
    c->add_option("--preserve-fds", f->preserve_fds, "pass fds 3 .. 3+N-1 to the payload");
    c->add_option("id", f->request.task, "sandbox id")->required();
  };
  auto cf = std::make_shared<CreateFlags>();
  CLI::App* c =
      app.add_subcommand("create", "create a sandbox from an OCI bundle; its init waits for start");
  add_create_flags(c, cf);
  c->callback([cf, &exit_code] {
    if (exit_code) return;
    cf->request.command = trailing_command();  // `create ID -- CMD...` overrides process.args
    exit_code = create(*cf);
  });
  auto rf = std::make_shared<CreateFlags>();
  CLI::App* r = app.add_subcommand(
      "run", "create and start; attached: forward signals, wait, delete, exit with its code");
  add_create_flags(r, rf);
  r->add_flag("--detach,-d", rf->detach, "start it and return");
  r->add_flag("--keep", rf->keep, "keep the sandbox's state after it exits");
  r->callback([rf, &exit_code] {
    if (exit_code) return;
    rf->request.command = trailing_command();
    exit_code = run(*rf);
  });

  auto id = std::make_shared<std::string>();
  CLI::App* s = app.add_subcommand("start", "start a created sandbox");
  s->add_option("id", *id, "sandbox id")->required();
  s->callback([id, &exit_code] {
    if (exit_code) return;
    std::vector<std::string> warnings;
    exit_code = report("start", engine::start_detached(globals().root, *id, &warnings));
    warn("start", warnings);
  });

  CLI::App* st = app.add_subcommand("state", "print a sandbox's OCI state as JSON");
  st->add_option("id", *id, "sandbox id")->required();
  st->callback([id, &exit_code] {
    if (exit_code) return;
    auto r = engine::load_state(globals().root, *id);
    if (!r) {
      exit_code = report("state", r.error());
      return;
    }
    auto mgr = cgroups();
    r->status = status_of(*r, mgr ? mgr->get() : nullptr);
    std::cout << engine::state_to_json(*r) << "\n";
    exit_code = 0;
  });

  auto signal = std::make_shared<std::string>();
  auto all = std::make_shared<bool>(false);
  CLI::App* k = app.add_subcommand("kill", "signal a sandbox (SIGKILL kills its whole cgroup)");
  k->add_flag("--all,-a", *all, "signal every process in the sandbox, not only its init");
  k->add_option("id", *id, "sandbox id")->required();
  k->add_option("signal", *signal, "signal name or number (default SIGTERM)");
  k->callback([id, signal, all, &exit_code] {
    if (exit_code) return;
    auto sig = parse_signal(*signal);
    if (!sig) {
      exit_code = report("kill", sig.error());
      return;
    }
    auto mgr = cgroups();
    if (!mgr) {
      exit_code = report("kill", mgr.error());
      return;
    }
    if (*all && *sig != SIGKILL) {
      auto st = engine::load_state(globals().root, *id);
      if (!st) {
        exit_code = report("kill", st.error());
        return;
      }
      auto pids = sandbox_pids(**mgr, *id);
      if (!pids) {
        exit_code = report("kill", pids.error());
        return;
      }
      for (pid_t p : *pids) ::kill(p, *sig);
      exit_code = 0;
      return;
    }
    exit_code = report("kill", engine::kill_detached(**mgr, globals().root, *id, *sig));
  });

  auto format = std::make_shared<std::string>("table");
  auto json_flag = std::make_shared<bool>(false);
  auto quiet = std::make_shared<bool>(false);
  CLI::App* l = app.add_subcommand("list", "list sandboxes: id, pid, status, bundle");
  l->add_option("--format,-f", *format, "table or json")->check(CLI::IsMember({"table", "json"}));
  l->add_flag("--json", *json_flag, "same as --format json");
  l->add_flag("--quiet,-q", *quiet, "ids only");
  l->callback([format, json_flag, quiet, &exit_code] {
    if (exit_code) return;
    bool as_json = *json_flag || *format == "json";
    std::vector<std::string> ids;
    if (DIR* d = opendir(globals().root.c_str())) {
      while (dirent* e = readdir(d))
        if (e->d_name[0] != '.') ids.push_back(e->d_name);
      closedir(d);
    }
    std::sort(ids.begin(), ids.end());
    auto mgr = cgroups();
    std::string out = as_json ? "[" : *quiet ? "" : "ID\tPID\tSTATUS\tBUNDLE\n";
    bool first = true;
    for (const auto& i : ids) {
      auto st = engine::load_state(globals().root, i);
      if (!st) continue;  // removed meanwhile, or not ours
      st->status = status_of(*st, mgr ? mgr->get() : nullptr);
      if (as_json) {
        out += (first ? "" : ",") + engine::state_to_json(*st);
      } else if (*quiet) {
        out += st->id + "\n";
      } else {
        out +=
            st->id + "\t" + std::to_string(st->pid) + "\t" + st->status + "\t" + st->bundle + "\n";
      }
      first = false;
    }
    if (as_json) out += "]\n";
    std::cout << out;
    exit_code = 0;
  });

  auto ps_format = std::make_shared<std::string>("table");
  CLI::App* ps = app.add_subcommand("ps", "the processes in a sandbox (host pids)");
  ps->add_option("--format,-f", *ps_format, "table or json")
      ->check(CLI::IsMember({"table", "json"}));
  ps->add_option("id", *id, "sandbox id")->required();
  ps->callback([id, ps_format, &exit_code] {
    if (exit_code) return;
    auto st = engine::load_state(globals().root, *id);
    if (!st) {
      exit_code = report("ps", st.error());
      return;
    }
    auto mgr = cgroups();
    auto pids = mgr ? sandbox_pids(**mgr, *id) : Result<std::vector<pid_t>>(mgr.error());
    if (!pids) {
      exit_code = report("ps", pids.error());
      return;
    }
    if (*ps_format == "json") {
      std::cout << json(*pids).dump() << "\n";
    } else {
      std::cout << "PID\tCMD\n";
      for (pid_t p : *pids) std::cout << p << "\t" << cmdline(p) << "\n";
    }
    exit_code = 0;
  });

  for (bool pause : {true, false}) {
    CLI::App* p = app.add_subcommand(
        pause ? "pause" : "resume",
        pause ? "freeze every process of a running sandbox" : "thaw a paused sandbox");
    p->add_option("id", *id, "sandbox id")->required();
    p->callback([id, pause, &exit_code] {
      if (exit_code) return;
      const char* verb = pause ? "pause" : "resume";
      auto st = engine::load_state(globals().root, *id);
      if (!st) {
        exit_code = report(verb, st.error());
        return;
      }
      if (st->status != "running") {
        exit_code = report(verb, make_error(verb, *id, "sandbox is " + st->status));
        return;
      }
      auto mgr = cgroups();
      auto cg = mgr ? (*mgr)->open(*id) : Result<std::unique_ptr<os::Cgroup>>(mgr.error());
      if (!cg) {
        exit_code = report(verb, cg.error());
        return;
      }
      exit_code = report(verb, (*cg)->set_frozen(pause));
    });
  }

  auto force = std::make_shared<bool>(false);
  CLI::App* d = app.add_subcommand("delete", "remove a stopped sandbox (--force: kill it first)");
  d->add_option("id", *id, "sandbox id")->required();
  d->add_flag("--force,-f", *force, "kill a live sandbox first");
  d->callback([id, force, &exit_code] {
    if (exit_code) return;
    auto mgr = cgroups();
    if (!mgr) {
      exit_code = report("delete", mgr.error());
      return;
    }
    // A paused sandbox is thawed by the kill (cgroup.kill reaches frozen members).
    std::vector<std::string> warnings;
    exit_code =
        report("delete", engine::delete_detached(**mgr, globals().root, *id, *force, &warnings));
    warn("delete", warnings);
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
  e->add_flag("--tty,-t", x->tty, "refused: no terminal support yet");
  e->add_option("--console-socket", x->console_socket, "refused: no terminal support yet");
  e->add_option("id", x->id, "sandbox id")->required();
  e->add_option("command", x->command, "command (or after --)");
  one_value_per_use(e);
  e->callback([x, &exit_code] {
    if (!exit_code) exit_code = exec(*x);
  });

  CLI::App* fe = app.add_subcommand("features", "what this runtime implements (JSON)");
  fe->callback([&exit_code] {
    if (exit_code) return;
    std::cout << features_json() << "\n";
  });

  auto spec_bundle = std::make_shared<std::string>(".");
  auto spec_tier = std::make_shared<std::string>("container");
  CLI::App* sp = app.add_subcommand("spec", "write a config.json for a tier into the bundle");
  sp->add_option("--bundle,-b", *spec_bundle, "bundle directory (default .)");
  sp->add_option("--isolate", *spec_tier, "tier (default container)");
  auto spec_rootless = std::make_shared<bool>(false);
  sp->add_flag("--rootless", *spec_rootless,
               "accepted: the spec is the same (clawcage runs as root)");
  sp->callback([spec_bundle, spec_tier, spec_rootless, &exit_code] {
    if (exit_code) return;
    std::string path = *spec_bundle + "/config.json";
    if (path_exists(path)) {
      exit_code = report("spec", make_error("spec", path, "exists: remove it first"));
      return;
    }
    policy::TaskRequest t;
    t.isolate = name_tier().empty() ? *spec_tier : name_tier();
    t.rootfs = *spec_bundle + "/rootfs";
    t.command = {"sh"};
    std::vector<std::string> controls;
    std::string tier;
    // The rootfs need not exist yet: the spec names it relative to the bundle.
    t.rootfs = kBuiltinImage;
    auto o = policy::build_create_options(t, controls, tier);
    if (!o) {
      exit_code = report("spec", o.error());
      return;
    }
    o->spec.root.path = "rootfs";
    exit_code = report("spec", create_file(path, spec::to_json(o->spec) + "\n", 0644));
  });

  for (const char* verb : {"events", "update", "checkpoint", "restore"}) {
    CLI::App* u = app.add_subcommand(verb, "not supported");
    u->allow_extras();
    u->callback([verb, &exit_code] {
      exit_code = report(verb, make_error(verb, "clawcage", "not supported"));
    });
  }
}

}  // namespace clawcage::cli
