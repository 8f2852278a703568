// clawcage run: one task in a fresh sandbox, streamed, exit code passed through.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <iostream>

#include "base/files.h"
#include "cli/cleanup_guard.h"
#include "cli/commands.h"
#include "engine/run_task.h"
#include "linux/process.h"
#include "policy/task_request.h"
#include "spec/task.h"

namespace clawcage::cli {

namespace {

int run(policy::TaskRequest& f, const std::string& trust_path) {
  std::vector<std::string> controls;
  std::string tier;
  int64_t timeout_ms = 0, grace_ms = 2000;
  auto fail = [&](const Error& e, const std::string& id) {
    std::cerr << "clawcage run: " << e.message() << "\n";
    if (f.json || !f.record_file.empty()) {
      engine::TaskRecord r;
      r.id = id;
      r.tier = f.isolate;
      r.error = e.message();
      r.exit_code = 125;
      std::string line = engine::record_to_json(r) + "\n";
      if (f.json) std::cerr << line;
      if (!f.record_file.empty()) (void)create_file(f.record_file, line);
    }
    return 125;
  };
  if (!f.timeout.empty()) {
    auto t = spec::parse_duration_ms(f.timeout, "--timeout");
    if (!t) return fail(t.error(), f.task);
    timeout_ms = *t;
  }
  std::optional<policy::TrustPolicy> trust;
  std::string trust_file = trust_path;
  if (trust_file.empty() && path_exists(policy::kDefaultTrustPolicy))
    trust_file = policy::kDefaultTrustPolicy;
  if (!trust_file.empty() && trust_file != "none") {
    auto t = policy::TrustPolicy::load(trust_file);
    if (!t) return fail(std::move(t).error().add_context("loading --trust-policy"), f.task);
    trust = std::move(*t);
    f.trust = &*trust;
  }
  auto g = spec::parse_duration_ms(f.kill_grace, "--kill-grace");
  if (!g) return fail(g.error(), f.task);
  grace_ms = *g;
  auto opts = policy::build_create_options(f, controls, tier);
  if (!opts) return fail(opts.error(), f.task);
  bool created_output = false;
  std::string output_dir;
  for (const auto& m : opts->spec.mounts)
    if (m.destination == "/output" && m.type == "bind") output_dir = m.source;
  if (!output_dir.empty()) {
    auto p = policy::prepare_output(output_dir, opts->spec);
    if (!p) return fail(p.error(), opts->id);
    created_output = *p;
  }
  auto cgroups = os::CgroupManager::detect();
  if (!cgroups) return fail(cgroups.error(), opts->id);

  // Operator signals become a kill of the sandbox (cause "killed"), never a dead runtime
  // with a live sandbox. The init clears its inherited mask before exec.
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&set, s);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);

  // Orphans of the task (a chroot-tier task has no pid namespace to collect them) are
  // reparented to us, killed with the cgroup, and reaped below: none outlives the run.
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  engine::Supervision sup{timeout_ms, grace_ms, sfd};
  std::string id = opts->id;
  // Started before the sandbox exists, so a SIGKILL at any later point is covered.
  auto guard = CleanupGuard::start(id);
  if (!guard) return fail(guard.error(), id);
  engine::TaskRecord rec = engine::run_task(**cgroups, std::move(opts).value(), sup);
  guard->dismiss();
  os::reap_children(2000);
  rec.tier = tier;
  rec.controls = controls;
  rec.image_digest = f.image_digest;
  if (f.trust_decision) rec.trust_json = policy::trust_decision_json(*f.trust_decision);
  if (sfd >= 0) close(sfd);
  if (rec.cause == engine::ExitCause::spawn_failed) {
    std::cerr << "clawcage run: " << rec.error << "\n";
    if (created_output) rmdir(output_dir.c_str());  // only if still empty
  }
  for (const auto& w : rec.warnings) std::cerr << "clawcage run: warning: " << w << "\n";
  if (!rec.cleanup_error.empty())
    std::cerr << "clawcage run: cleanup: " << rec.cleanup_error << "\n";
  std::string line = engine::record_to_json(rec) + "\n";
  if (f.json) std::cerr << line;
  if (!f.record_file.empty()) {
    auto w = create_file(f.record_file, line);
    if (!w) std::cerr << "clawcage run: " << w.error().message() << "\n";
  }
  if (!rec.cleanup_error.empty() && rec.exit_code == 0) return 125;
  return rec.exit_code;
}

}  // namespace

void add_run_command(CLI::App& app, int& exit_code) {
  auto f = std::make_shared<policy::TaskRequest>();
  auto trust = std::make_shared<std::string>();
  CLI::App* c = app.add_subcommand("run", "run one task in a fresh sandbox and wait for it");
  c->add_option("--trust-policy", *trust,
                "trust policy: tier routing, image signatures, volume rules (default "
                "/etc/clawcage/trust.json if it exists; \"none\" for none)");
  c->add_option("--isolate", f->isolate,
                "tier: chroot, container (default), strict or gvisor; under a trust policy, at "
                "least the tier its route gives")
      ->each([f](const std::string&) { f->isolate_given = true; });
  c->add_option("--task", f->task, "task name (names its cgroup and records)");
  c->add_option("--gvisor-platform", f->gvisor_platform,
                "tier gvisor: runsc platform, ptrace (default) or kvm");
  c->add_option("--rootfs", f->rootfs, "run on a plain directory instead of the built-in image");
  c->add_option("--bundle", f->bundle, "run an OCI bundle (config.json + rootfs)");
  c->add_option("--image", f->image, "run an imported image: name:tag or @sha256:...");
  c->add_option("--store", f->store, "image store directory (default /var/lib/clawcage/store)");
  c->add_option("--ro", f->ro,
                "SRC:DST[:exec] shared input, always read-only, noexec unless :exec");
  c->add_option("--rw", f->rw, "SRC:DST writable volume");
  c->add_option("--output", f->output, "per-task output dir (created if missing), at /output");
  c->add_option("--scratch", f->scratch, "SIZE of a private tmpfs at /scratch");
  c->add_option("--memory", f->memory, "memory limit, e.g. 256M");
  c->add_option("--pids", f->pids, "maximum number of processes");
  c->add_option("--cpus", f->cpus, "CPU quota in cores, e.g. 0.5");
  c->add_option("--cpu-shares", f->cpu_shares,
                "relative CPU weight under contention (default 1024)");
  c->add_option("--cpuset-cpus", f->cpuset_cpus, "pin to these CPUs, e.g. 0-1");
  c->add_option("--timeout", f->timeout, "deadline, e.g. 30s; then SIGTERM, then kill");
  c->add_option("--kill-grace", f->kill_grace, "time between SIGTERM and kill (default 2s)");
  c->add_option("--env,-e", f->env, "NAME=VALUE");
  c->add_option("--cwd,-w", f->cwd, "working directory in the sandbox");
  c->add_option("--user,-u", f->user, "UID[:GID] in the sandbox");
  c->add_option("--hostname", f->hostname, "hostname (default: the task name)");
  c->add_option("--allow-host-path", f->allow_host_paths,
                "allow mounting this sensitive host path");
  c->add_flag("--exec-volumes", f->exec_volumes, "allow exec on --ro volumes");
  c->add_flag("--writable-rootfs", f->writable_rootfs,
              "let the task write its rootfs: an image's (or the built-in one's) through a private "
              "overlay layer discarded with the task; strict keeps it read-only");
  c->add_flag("--json", f->json, "print the task record as one JSON line on stderr");
  c->add_option("--record", f->record_file, "write the task record (JSON) to this file");
  c->add_option("command", f->command, "command and arguments (after --)");
  one_value_per_use(c);
  c->callback([f, trust, &exit_code]() {
    for (const auto& a : trailing_command()) f->command.push_back(a);
    exit_code = run(*f, *trust);
  });
}

}  // namespace clawcage::cli
