#include "orchestrator/orchestrator.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "base/files.h"
#include "image/store.h"
#include "linux/process.h"
#include "orchestrator/internal.h"
#include "policy/task_request.h"
#include "policy/volume_rules.h"
#include "spec/task.h"
#include "spec/tiers/tier.h"

namespace clawcage::orchestrator {

using namespace internal;

Error with_code(Error e, int reason) {
  e.reason = reason;
  return e;
}

Result<std::unique_ptr<Orchestrator>> Orchestrator::open(DaemonConfig config) {
  TRY(check_config(config));
  std::unique_ptr<Orchestrator> o(new Orchestrator());
  if (!config.trust_policy.empty()) {
    auto trust = policy::TrustPolicy::load(config.trust_policy);
    if (!trust) return std::move(trust).error().add_context("in trust_policy");
    o->trust_ = std::move(*trust);
  }
  o->config_ = std::move(config);
  TRY(o->setup());
  o->reconcile(true);
  TRY(o->commit());
  o->apply_shared_cpus();
  return o;
}

Orchestrator::~Orchestrator() {
  // Sandboxes outlive the daemon (they are re-adopted on restart): release, don't destroy.
  for (auto& [id, live] : live_)
    if (live->sandbox) live->sandbox->detach();
  if (journal_) {
    audit({{"event", "daemon_stop"}, {"live_tasks", live_.size()}});
    (void)commit();
  }
}

Result<void> Orchestrator::setup() {
  const auto& c = config_;
  for (const char* sub : {"", "/logs", "/outputs", "/stdin"})
    TRY(make_dirs(c.data_dir + sub, 0700));
  TRY(make_dirs(c.state_root(), 0711));
  TRY(make_dirs(c.run_dir + "/health", 0700));
  agent_labels_ = BoundedLabels(static_cast<size_t>(c.metrics_agent_cap));
  declare_metrics();
  TRY_ASSIGN(journal_, Journal::open(c.journal_path(), c.journal_sync));
  if (!c.audit_log.empty()) {
    TRY_ASSIGN(audit_,
               AuditLog::open(c.audit_log, c.audit_rotate_bytes, static_cast<int>(c.audit_keep)));
    // What the journal last recorded: the log may be ahead of it, never behind.
    TRY_ASSIGN(std::string head, journal_->get_meta("audit_head"));
    audit_committed_ = std::atoll(head.c_str());
    nlohmann::json start = {{"event", "daemon_start"}, {"pid", getpid()}};
    if (!audit_->recovered().empty()) start["recovered"] = audit_->recovered();
    if (audit_->head().seq < audit_committed_)
      start["warning"] = "the audit log ends at event " + std::to_string(audit_->head().seq) +
                         ", before the journal's head " + head + ": run `clawcage audit verify`";
    audit(std::move(start));
  }
  TRY_ASSIGN(cgroups_, os::CgroupManager::detect("/sys/fs/cgroup", c.cgroup_parent));
  // Every sandbox costs fds while it is spawned and one after; use all we may.
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  // Double-forked processes of chroot-tier tasks are reparented to us and reaped.
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  signal_fd_.reset(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signal_fd_) return system_error("signalfd", "SIGCHLD");
  timer_fd_.reset(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!timer_fd_) return system_error("timerfd_create", "orchestrator tick");
  itimerspec tick{};
  tick.it_interval.tv_nsec = kTickMs * 1000000L;
  tick.it_value.tv_nsec = kTickMs * 1000000L;
  if (timerfd_settime(timer_fd_.get(), 0, &tick, nullptr) != 0)
    return system_error("timerfd_settime", "orchestrator tick");
  inotify_fd_.reset(inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (!inotify_fd_) return system_error("inotify_init1", c.data_dir + "/logs");
  if (inotify_add_watch(inotify_fd_.get(), (c.data_dir + "/logs").c_str(), IN_MODIFY) < 0)
    return system_error("inotify_add_watch", c.data_dir + "/logs");
  epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) return system_error("epoll_create1", "orchestrator");
  for (int fd : {signal_fd_.get(), timer_fd_.get(), inotify_fd_.get()}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0)
      return system_error("epoll_ctl", "orchestrator");
  }
  last_reconcile_ = Clock::now();
  if (const char* crash = getenv("CLAWCAGE_DAEMON_CRASH_AT")) crash_at_ = crash;
  if (c.cpu_pinning) {
    std::set<int> pool;
    if (c.cpu_pool.empty()) {
      TRY_ASSIGN(pool, online_cpus());
    } else {
      TRY_ASSIGN(pool, parse_cpu_list(c.cpu_pool, "cpu_pool"));
    }
    cpus_ = CpuPool(pool, static_cast<size_t>(c.min_shared_cpus));
  }
  return ok();
}

void Orchestrator::crash_point(const char* name) {
  if (crash_at_ != name) return;
  log_event(std::string("crashing at ") + name + " (CLAWCAGE_DAEMON_CRASH_AT)");
  raise(SIGKILL);
}

void Orchestrator::log_event(const std::string& text) {
  fprintf(stderr, "clawcage daemon: %s\n", text.c_str());
}

Result<void> Orchestrator::commit() {
  // The audit log's head goes into the same commit: a log cut below it is a truncated tail.
  if (audit_ && audit_->head().seq != audit_committed_) {
    TRY(journal_->begin());
    TRY(journal_->set_meta("audit_head",
                           std::to_string(audit_->head().seq) + " " + audit_->head().hash));
    audit_committed_ = audit_->head().seq;
  }
  return journal_->commit().context("committing the journal");
}

void Orchestrator::audit(nlohmann::json event) {
  if (!audit_) return;
  auto r = audit_->append(std::move(event));
  if (!r) {
    audit_error_ = r.error().message();
    log_event("audit: " + audit_error_);
  } else {
    audit_error_.clear();
  }
}

void Orchestrator::record(Task& task, TaskState state, const std::string& detail) {
  double now = now_seconds();
  TaskState before = task.state;
  task.state = state;
  count_transition(task, before, now);
  switch (state) {
    case TaskState::queued:
      break;
    case TaskState::admitted:
      task.admitted_at = now;
      if (task.submitted_at > 0)
        metrics_.observe("clawcage_queue_wait_seconds", {}, now - task.submitted_at);
      break;
    case TaskState::created:
      break;
    case TaskState::started:
      task.started_at = now;
      if (before == TaskState::created && task.admitted_at > 0)
        metrics_.observe("clawcage_spawn_seconds", {{"tier", task.tier}}, now - task.admitted_at);
      break;
    case TaskState::exited:
      task.exited_at = now;
      break;
    case TaskState::reaped:
      task.reaped_at = now;
      break;
  }
  // A journal that cannot be written is reported by /v1/health; the loop goes on.
  auto b = journal_->begin();
  if (!b) log_event("journal: " + b.error().message());
  auto u = journal_->update(task);
  if (!u) log_event("journal: " + u.error().message());
  auto e = journal_->append_event(task.id, state_name(state), detail);
  if (!e) log_event("journal: " + e.error().message());
  nlohmann::json ev = {
      {"event", "state"}, {"task", task.id}, {"agent", task.agent}, {"state", state_name(state)}};
  if (!task.tier.empty()) ev["tier"] = task.tier;
  if (!detail.empty()) ev["detail"] = detail;
  if (state == TaskState::created && task.pid > 0) ev["pid"] = task.pid;
  if (state == TaskState::exited && task.result) {
    const TaskResult& r = *task.result;
    ev["result"] = {{"cause", r.cause},
                    {"exit_code", r.exit_code},
                    {"signal", r.signal},
                    {"killed_by", r.killed_by},
                    {"error", r.error}};
  }
  audit(std::move(ev));
}

// ---------------------------------------------------------------------------------------
// Requests

Result<void> Orchestrator::validate_request(TaskRequest& r) {
  if (!r.tier.empty()) TRY(spec::parse_tier(r.tier).context("in tier"));
  if (r.health && (r.tier.empty() ? config_.default_tier : r.tier) == "gvisor")
    return with_code(invalid_field("health",
                                   "tier gvisor does not support health checks (they "
                                   "exec into the sandbox, which runsc's sandbox "
                                   "kernel does not offer here)"),
                     EINVAL);
  if (r.deadline_ms > config_.max_deadline_ms)
    return with_code(
        invalid_field("deadline", "exceeds the daemon's maximum of " +
                                      std::to_string(config_.max_deadline_ms / 1000) + " s"),
        EINVAL);
  for (size_t i = 0; i < r.volumes.size(); ++i) {
    const auto& v = r.volumes[i];
    std::string field = "volumes[" + std::to_string(i) + "]";
    const VolumeConfig* cfg = nullptr;
    for (const auto& c : config_.volumes)
      if (c.name == v.name) cfg = &c;
    if (!cfg)
      return with_code(invalid_field(field + ".name", "no volume named \"" + v.name +
                                                          "\" is registered with the daemon"),
                       ENOENT);
    if (cfg->shared && !v.readonly)
      return with_code(invalid_field(field + ".mode", "volume \"" + v.name +
                                                          "\" is shared: it is only ever mounted "
                                                          "read-only"),
                       EINVAL);
    if (!cfg->agent.empty() && cfg->agent != r.agent)
      return with_code(
          invalid_field(field + ".name", "volume \"" + v.name + "\" belongs to another agent"),
          EACCES);
    if (v.target == "/output" || v.target == "/scratch")
      return with_code(invalid_field(field + ".target", v.target + " is reserved"), EINVAL);
  }
  if (!r.image.empty()) {
    image::ImageStore store(config_.image_store.empty() ? image::kDefaultStore
                                                        : config_.image_store);
    auto d = store.resolve(r.image);
    if (!d) return with_code(std::move(d).error().add_context("in image"), ENOENT);
  }
  if (trust_) TRY(check_trust(r));
  if (!r.rootfs.empty()) {
    char* real = realpath(r.rootfs.c_str(), nullptr);
    if (!real) return with_code(system_error("rootfs", r.rootfs), ENOENT);
    std::string resolved(real);
    free(real);
    std::string why = policy::sensitive_reason(resolved);
    if (!why.empty() || resolved == "/")
      return with_code(invalid_field("rootfs", resolved + " may not be a task's rootfs" +
                                                   (why.empty() ? "" : ": " + why)),
                       EACCES);
  }
  for (const auto& x : {r.memory, r.scratch})
    if (!x.empty() && x.size() > 32) return with_code(invalid_field("memory", "too long"), EINVAL);
  return ok();
}

Result<void> Orchestrator::check_trust(const TaskRequest& r) {
  policy::TaskRequest p;
  p.field_prefix = "";
  p.trust = &*trust_;
  p.image = r.image;
  p.store = config_.image_store;
  p.isolate = r.tier;
  p.isolate_given = !r.tier.empty();
  auto d = policy::check_trust(p);
  if (!d) return with_code(std::move(d).error(), EACCES);
  return ok();
}

Result<SubmitResult> Orchestrator::submit(const std::string& body) {
  auto r = submit_request(body);
  if (!r) {
    audit({{"event", "rejected"}, {"reason", r.error().message()}});
  } else if (r->created) {
    audit({{"event", "request"},
           {"task", r->task.id},
           {"agent", r->task.agent},
           {"tier", r->task.tier},
           {"request_sha256", audit_hash({{"request", r->task.request_json}})}});
  }
  return r;
}

Result<SubmitResult> Orchestrator::submit_request(const std::string& body) {
  auto parsed = parse_task_request(body);
  if (!parsed) return with_code(std::move(parsed).error(), EINVAL);
  TaskRequest r = std::move(parsed).value();
  bool chosen = !r.id.empty();
  if (!chosen) r.id = policy::random_task_id("t-");
  std::string canonical = request_to_json(r);
  if (chosen) {
    TRY_ASSIGN(auto existing, journal_->get(r.id));
    if (existing) {
      // The id makes submission idempotent: a retry gets the same task, never a second one.
      if (existing->request_json == canonical) return SubmitResult{*existing, false};
      return with_code(
          make_error("submit", "id " + r.id, "a task with this id exists with a different request"),
          EEXIST);
    }
  }
  if (queue_.size() >= config_.max_queued)
    return with_code(
        make_error("submit", "queue",
                   "the queue is full (" + std::to_string(config_.max_queued) + " tasks waiting)"),
        EAGAIN);
  TRY(validate_request(r));
  if (r.exclusive_cpus) {
    size_t n = static_cast<size_t>(r.exclusive_cpus);
    if (!config_.cpu_pinning)
      return with_code(
          invalid_field("exclusive_cpus",
                        "CPU pinning is off in this daemon (cpu_pinning in its config)"),
          EINVAL);
    if (n > cpus_.pinnable())
      return with_code(invalid_field("exclusive_cpus",
                                     "at most " + std::to_string(cpus_.pinnable()) +
                                         " cores can be pinned here (" +
                                         std::to_string(config_.min_shared_cpus) + " stay shared)"),
                       EINVAL);
    if (!cpus_.reserve(r.id, n))
      return with_code(make_error("pin cores", "exclusive_cpus",
                                  std::to_string(n) + " asked, " + std::to_string(cpus_.free()) +
                                      " free; held by " + cpus_.holders()),
                       EBUSY);
  }
  Task t;
  t.id = r.id;
  t.agent = r.agent;
  TRY_ASSIGN(t.seq, journal_->next_seq());
  t.state = TaskState::queued;
  t.request_json = canonical;
  t.tier = r.tier.empty() ? config_.default_tier : r.tier;
  t.submitted_at = now_seconds();
  TRY(journal_->begin());
  TRY(journal_->insert(t));
  TRY(journal_->append_event(t.id, "queued", ""));
  if (!r.stdin_data.empty())
    TRY(create_file(config_.data_dir + "/stdin/" + t.id, r.stdin_data, 0600));
  queue_.push(t.agent, t.id);
  return SubmitResult{t, true};
}

Result<Task> Orchestrator::get(const std::string& id) {
  auto it = live_.find(id);
  if (it != live_.end()) return it->second->task;
  TRY_ASSIGN(auto t, journal_->get(id));
  if (!t) return with_code(make_error("find task", id, "no such task"), ENOENT);
  return *t;
}

Result<std::vector<Task>> Orchestrator::list(std::optional<TaskState> state,
                                             const std::string& agent, size_t limit) {
  TRY_ASSIGN(auto tasks, journal_->list(state, agent, limit));
  // Health lives in memory only.
  for (auto& t : tasks)
    if (auto it = live_.find(t.id); it != live_.end()) t.health = it->second->task.health;
  return tasks;
}

// ---------------------------------------------------------------------------------------
// Admission and spawning

bool Orchestrator::has_runnable_work() const {
  return queue_.size() > 0;
}

bool Orchestrator::budget_allows(const HostBudget& b, int64_t memory, std::string& why) const {
  const auto& c = config_;
  if (c.max_running && live_.size() >= c.max_running) {
    why = "max_running (" + std::to_string(c.max_running) + ") tasks run";
    return false;
  }
  // Each sandbox needs a few pids at least; the headroom is what the host has left.
  if (b.pid_max && b.threads + c.pid_reserve + 4 > b.pid_max) {
    why = "PID headroom: " + std::to_string(b.threads) + " tasks of pid_max " +
          std::to_string(b.pid_max);
    return false;
  }
  if (b.pids_cgroup_max && b.pids_cgroup_current + 4 + c.pid_reserve / 8 > b.pids_cgroup_max) {
    why = "the daemon's pids cgroup is near its limit";
    return false;
  }
  double capacity = static_cast<double>(b.mem_total) * c.memory_overcommit;
  if (static_cast<double>(admitted_memory_ + memory) > capacity) {
    why = "memory: admitted limits would exceed MemTotal x " + std::to_string(c.memory_overcommit);
    return false;
  }
  if (b.mem_available && b.mem_available < c.memory_reserve_bytes) {
    why = "memory: MemAvailable is below the reserve";
    return false;
  }
  if (b.fd_limit && b.fds_open + c.fd_reserve + 8 > b.fd_limit) {
    why = "open files: " + std::to_string(b.fds_open) + " of " + std::to_string(b.fd_limit);
    return false;
  }
  return true;
}

void Orchestrator::spawn_turn() {
  if (queue_.size() == 0) return;
  // The kernel's figures are read at most every 200 ms: listing /proc/self/fd costs as much
  // as the daemon has fds (one per running task). In between, what this daemon admitted
  // since is added to the last reading.
  auto now = Clock::now();
  if (!budget_ || now - budget_at_ > std::chrono::milliseconds(200)) {
    auto fresh = read_host_budget();
    if (!fresh) {
      log_event("admission: " + fresh.error().message());
      return;
    }
    budget_ = *fresh;
    budget_at_ = now;
    budget_live_ = live_.size();
  }
  Result<HostBudget> budget = *budget_;
  if (live_.size() > budget_live_) {
    uint64_t more = live_.size() - budget_live_;
    budget->threads += more;
    budget->fds_open += more;
  }
  if (!budget) {
    log_event("admission: " + budget.error().message());
    return;
  }
  HostBudget b = *budget;
  std::vector<std::string> admitted;
  (void)journal_->begin();
  // A turn spawns what fits in about kTurnBudgetMs (by the recent cost of a spawn), so API
  // requests wait at most about that long behind spawning.
  size_t batch = static_cast<size_t>(kTurnBudgetMs / std::max(spawn_cost_ms_, 0.1));
  batch = std::clamp<size_t>(batch, 1, config_.spawn_batch);
  auto turn_start = Clock::now();
  while (admitted.size() < batch) {
    auto id = queue_.pop([&](const std::string& agent) {
      if (!config_.max_running_per_agent) return true;
      auto it = running_per_agent_.find(agent);
      return it == running_per_agent_.end() || it->second < config_.max_running_per_agent;
    });
    if (!id) break;
    auto loaded = journal_->get(*id);
    if (!loaded || !*loaded) {
      log_event("admission: task " + *id + " vanished from the journal");
      continue;
    }
    Task t = std::move(**loaded);
    auto req = parse_task_request(t.request_json);
    if (!req) {
      fail_spawn(t, req.error(), 125);
      continue;
    }
    int64_t memory = memory_of(*req, config_);
    std::string why;
    if (!budget_allows(b, memory, why)) {
      // Global budgets block everyone: the task keeps its place, admission waits.
      queue_.push_front(t.agent, t.id);
      last_admission_block_ = why;
      break;
    }
    last_admission_block_.clear();
    auto live = std::make_unique<Live>();
    live->request = std::move(*req);
    live->memory_limit = memory;
    record(t, TaskState::admitted, "");
    live->task = std::move(t);
    admitted_memory_ += memory;
    ++running_per_agent_[live->task.agent];
    b.threads += 2;
    b.fds_open += 2;
    admitted.push_back(*id);
    live_[*id] = std::move(live);
  }
  if (admitted.empty()) return;
  // Write-ahead: the journal knows every sandbox before it exists.
  if (auto c = commit(); !c) log_event(c.error().message());
  crash_point("admitted");

  std::vector<std::string> created;
  for (const auto& id : admitted) {
    Live& l = *live_[id];
    std::string tier;
    int64_t memory = 0;
    std::vector<std::string> controls;
    std::string image_digest;
    std::optional<policy::TrustDecision> trust;
    auto opts = create_options(l.task, l.request, tier, memory, controls, image_digest, trust);
    if (!opts) {
      fail_spawn(l.task, opts.error(), 125);
      continue;
    }
    l.task.tier = tier;
    if (trust) l.task.trust_json = policy::trust_decision_json(*trust);
    audit({{"event", "tier"},
           {"task", id},
           {"tier", tier},
           {"why", trust                    ? trust->explanation
                   : l.request.tier.empty() ? "the daemon's default_tier"
                                            : "asked by the request"},
           {"controls", controls}});
    if (!l.request.image.empty()) {
      // The exact manifest that will be mounted, and which keys verified it (null: no
      // trust policy, so no signature was checked).
      nlohmann::json verified = nullptr;
      if (trust) verified = nlohmann::json::parse(l.task.trust_json)["verified_by"];
      audit({{"event", "image"},
             {"task", id},
             {"image", l.request.image},
             {"digest", image_digest},
             {"verified_by", verified}});
    }
    std::string logs = config_.data_dir + "/logs/" + id;
    Result<UniqueFd> in = UniqueFd();
    if (l.request.stdin_open) {
      int p[2];
      if (pipe2(p, O_CLOEXEC) != 0) {
        in = system_error("pipe2", "stdin of task " + id);
      } else {
        in = UniqueFd(p[0]);
        l.stdin_w.reset(p[1]);
        fcntl(p[1], F_SETFL, O_NONBLOCK);
        l.stdin_pending = l.request.stdin_data;
      }
    } else if (l.request.stdin_data.empty()) {
      in = open_file("/dev/null", O_RDONLY | O_CLOEXEC);
    } else {
      in = open_file(config_.data_dir + "/stdin/" + id, O_RDONLY | O_CLOEXEC);
    }
    auto out = open_file(logs + ".stdout", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    auto err = open_file(logs + ".stderr", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    for (auto* r : {&in, &out, &err})
      if (!*r) {
        fail_spawn(l.task, r->error(), 125);
        break;
      }
    if (is_final(l.task.state)) continue;
    opts->stdio_fds[0] = in->get();
    opts->stdio_fds[1] = out->get();
    opts->stdio_fds[2] = err->get();
    opts->die_with_parent = false;
    opts->keep_config = l.request.health.has_value();
    auto sb = engine::Sandbox::create(*cgroups_, std::move(*opts));
    if (!sb) {
      int code = sb.error().operation == "exec" ? (sb.error().code == ENOENT ? 127 : 126) : 125;
      fail_spawn(l.task, sb.error(), code);
      continue;
    }
    l.sandbox.emplace(std::move(*sb));
    crash_point("created");
    if (l.request.exclusive_cpus) apply_shared_cpus();
    l.task.pid = l.sandbox->pid();
    auto st = os::process_start_time(l.task.pid);
    l.task.pid_start_time = st ? *st : 0;
    by_pid_[l.task.pid] = id;
    record(l.task, TaskState::created, "pid " + std::to_string(l.task.pid));
    record(l.task, TaskState::started, "");
    created.push_back(id);
  }
  for (auto it = admitted.begin(); it != admitted.end(); ++it) {
    auto l = live_.find(*it);
    if (l != live_.end() && is_final(l->second->task.state)) live_.erase(l);
  }
  if (auto c = commit(); !c) log_event(c.error().message());
  if (!created.empty()) crash_point("started");

  for (const auto& id : created) {
    auto it = live_.find(id);
    if (it == live_.end()) continue;
    Live& l = *it->second;
    l.started = Clock::now();
    if (&id == &created.back()) {
      double per = std::chrono::duration<double, std::milli>(l.started - turn_start).count() /
                   static_cast<double>(admitted.size());
      spawn_cost_ms_ = 0.8 * spawn_cost_ms_ + 0.2 * per;
    }
    auto s = l.sandbox->start();
    if (!s) {
      // The init is gone or will exit: its SIGCHLD finishes the task as spawn_failed.
      (void)l.sandbox->kill(SIGKILL);
      TaskResult r;
      r.cause = "spawn_failed";
      r.error = s.error().message();
      r.exit_code = s.error().operation == "exec" ? (s.error().code == ENOENT ? 127 : 126) : 125;
      l.task.result = r;
      continue;
    }
    // After the fact (the payload runs now): tells a restarted daemon that an exit status
    // the keeper kept is the payload's, not an init's that never got its start.
    (void)journal_->append_event(id, "running", "");
    int64_t deadline =
        l.request.deadline_ms > 0 ? l.request.deadline_ms : config_.default_deadline_ms;
    deadlines_.push({l.started + std::chrono::milliseconds(deadline), id});
    if (l.stdin_w) flush_stdin(l);
    start_health_checks(l);
    crash_point("running");
  }
}

Result<engine::CreateOptions> Orchestrator::create_options(
    const Task& task, const TaskRequest& r, std::string& tier, int64_t& memory,
    std::vector<std::string>& controls, std::string& image_digest,
    std::optional<policy::TrustDecision>& trust) {
  policy::TaskRequest p;
  p.field_prefix = "";
  p.state_root = config_.state_root();
  p.task = task.id;
  p.isolate = task.tier;
  // Under a trust policy the route gives the tier unless the request asked for one.
  p.isolate_given = !trust_ || !r.tier.empty();
  if (trust_) p.trust = &*trust_;
  p.image = r.image;
  p.store = config_.image_store;
  p.rootfs = r.rootfs;
  p.env = r.env;
  p.cwd = r.cwd.empty() ? "/" : r.cwd;
  p.user = r.user;
  p.hostname = r.hostname;
  p.memory = r.memory.empty() ? config_.default_memory : r.memory;
  p.pids = r.pids ? *r.pids : config_.default_pids;
  p.cpus = r.cpus;
  p.cpu_shares = r.cpu_shares;
  if (config_.cpu_pinning) {
    std::set<int> mine = r.exclusive_cpus ? cpus_.pin(task.id) : cpus_.shared();
    p.cpuset_cpus = format_cpu_list(mine);
  }
  p.scratch = r.scratch;
  p.command = r.command;
  p.gvisor_platform = config_.gvisor_platform;
  for (const auto& v : r.volumes) {
    for (const auto& c : config_.volumes) {
      if (c.name != v.name) continue;
      p.allow_host_paths.push_back(c.path);
      (v.readonly || c.shared ? p.ro : p.rw).push_back(c.path + ":" + v.target);
    }
  }
  if (r.output) p.output = config_.data_dir + "/outputs/" + task.id;
  p.output_chosen_by_daemon = true;
  TRY_ASSIGN(engine::CreateOptions o, policy::build_create_options(p, controls, tier));
  image_digest = p.image_digest;
  trust = p.trust_decision;
  if (r.output) TRY(policy::prepare_output(p.output, o.spec));
  memory = memory_of(r, config_);
  return o;
}

void Orchestrator::fail_spawn(Task& task, const Error& error, int exit_code) {
  log_event("task " + task.id + ": spawn failed: " + error.message());
  if (cpus_.release(task.id)) apply_shared_cpus();
  TaskResult r;
  r.cause = "spawn_failed";
  r.error = error.message();
  r.exit_code = exit_code;
  task.result = r;
  (void)cleanup_kernel(task.id);
  ::unlink((config_.data_dir + "/stdin/" + task.id).c_str());
  auto it = live_.find(task.id);
  if (it != live_.end()) {
    admitted_memory_ -= it->second->memory_limit;
    if (--running_per_agent_[task.agent] == 0) running_per_agent_.erase(task.agent);
  }
  record(task, TaskState::exited, "spawn_failed");
  record(task, TaskState::reaped, "");
  if (on_final) on_final(task.id);
}

}  // namespace clawcage::orchestrator
