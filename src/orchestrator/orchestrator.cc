#include "orchestrator/orchestrator.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/random.h>
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
#include "policy/task_request.h"
#include "policy/volume_rules.h"
#include "spec/task.h"
#include "spec/tiers/tier.h"

namespace clawcage::orchestrator {

Error with_code(Error e, int reason) {
  e.reason = reason;
  return e;
}

namespace {

constexpr int kTickMs = 50;
constexpr double kTurnBudgetMs = 30;
constexpr auto kStuckRetry = std::chrono::seconds(5);

std::string random_id() {
  unsigned char b[6];
  if (getrandom(b, sizeof b, 0) != sizeof b) return "t-" + std::to_string(now_seconds());
  char out[32];
  snprintf(out, sizeof out, "t-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
  return out;
}

std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> out;
  DIR* d = opendir(path.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') out.push_back(e->d_name);
  closedir(d);
  return out;
}

int64_t memory_of(const TaskRequest& r, const DaemonConfig& c) {
  auto m = spec::parse_size(r.memory.empty() ? c.default_memory : r.memory, "memory");
  return m ? *m : 0;
}

uint64_t file_size(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

}  // namespace

Result<std::unique_ptr<Orchestrator>> Orchestrator::open(DaemonConfig config) {
  TRY(check_config(config));
  std::unique_ptr<Orchestrator> o(new Orchestrator());
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
  if (journal_) (void)journal_->commit();
}

Result<void> Orchestrator::setup() {
  const auto& c = config_;
  for (const char* sub : {"", "/logs", "/outputs", "/stdin"})
    TRY(make_dirs(c.data_dir + sub, 0700));
  TRY(make_dirs(c.state_root(), 0711));
  TRY_ASSIGN(journal_, Journal::open(c.journal_path(), c.journal_sync));
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
  return journal_->commit().context("committing the journal");
}

void Orchestrator::record(Task& task, TaskState state, const std::string& detail) {
  double now = now_seconds();
  task.state = state;
  switch (state) {
    case TaskState::queued:
      break;
    case TaskState::admitted:
      task.admitted_at = now;
      break;
    case TaskState::created:
      break;
    case TaskState::started:
      task.started_at = now;
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
}

// ---------------------------------------------------------------------------------------
// Requests

Result<void> Orchestrator::validate_request(TaskRequest& r) {
  if (!r.tier.empty()) TRY(spec::parse_tier(r.tier).context("in tier"));
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

Result<SubmitResult> Orchestrator::submit(const std::string& body) {
  auto parsed = parse_task_request(body);
  if (!parsed) return with_code(std::move(parsed).error(), EINVAL);
  TaskRequest r = std::move(parsed).value();
  bool chosen = !r.id.empty();
  if (!chosen) r.id = random_id();
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
  return journal_->list(state, agent, limit);
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
    auto opts = create_options(l.task, l.request, tier, memory);
    if (!opts) {
      fail_spawn(l.task, opts.error(), 125);
      continue;
    }
    l.task.tier = tier;
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
    crash_point("running");
  }
}

Result<engine::CreateOptions> Orchestrator::create_options(const Task& task, const TaskRequest& r,
                                                           std::string& tier, int64_t& memory) {
  policy::TaskRequest p;
  p.field_prefix = "";
  p.state_root = config_.state_root();
  p.task = task.id;
  p.isolate = task.tier;
  p.isolate_given = true;
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
  for (const auto& v : r.volumes) {
    for (const auto& c : config_.volumes) {
      if (c.name != v.name) continue;
      p.allow_host_paths.push_back(c.path);
      (v.readonly || c.shared ? p.ro : p.rw).push_back(c.path + ":" + v.target);
    }
  }
  if (r.output) p.output = config_.data_dir + "/outputs/" + task.id;
  p.output_chosen_by_daemon = true;
  std::vector<std::string> controls;
  TRY_ASSIGN(engine::CreateOptions o, policy::build_create_options(p, controls, tier));
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

// ---------------------------------------------------------------------------------------
// Supervision

void Orchestrator::process() {
  epoll_event events[64];
  int n = epoll_wait(epoll_.get(), events, 64, 0);
  bool tick = false;
  for (int i = 0; i < n; ++i) {
    int fd = events[i].data.fd;
    if (fd == signal_fd_.get()) {
      signalfd_siginfo info;
      while (::read(fd, &info, sizeof info) == sizeof info) {
      }
      reap_children();
    } else if (fd == timer_fd_.get()) {
      uint64_t expirations;
      (void)!::read(fd, &expirations, sizeof expirations);
      tick = true;
    } else if (fd == inotify_fd_.get()) {
      alignas(inotify_event) char buf[16384];
      ssize_t len;
      std::set<std::string> files;
      while ((len = ::read(fd, buf, sizeof buf)) > 0) {
        for (char* p = buf; p < buf + len;) {
          auto* ev = reinterpret_cast<inotify_event*>(p);
          if (ev->len) files.insert(ev->name);
          if (ev->mask & IN_Q_OVERFLOW) files.insert("*");
          p += sizeof(inotify_event) + ev->len;
        }
      }
      for (const auto& f : files) enforce_log_caps(f);
    } else if (auto sin = by_stdin_fd_.find(fd); sin != by_stdin_fd_.end()) {
      auto l = live_.find(sin->second);
      if (l == live_.end()) {
        epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
        by_stdin_fd_.erase(sin);
      } else {
        flush_stdin(*l->second);
      }
    } else {
      auto it = by_pidfd_.find(fd);
      if (it == by_pidfd_.end()) continue;
      std::string id = it->second;
      epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
      by_pidfd_.erase(it);
      auto l = live_.find(id);
      if (l != live_.end() && (l->second->exit_from_keeper = keeper_exit(l->second->task)))
        finish(*l->second, l->second->exit_from_keeper, "");
      else if (l != live_.end())
        finish(*l->second, std::nullopt,
               "the task outlived a daemon restart, so its exit status could not be observed "
               "(its output is kept)");
    }
  }
  if (tick) {
    on_deadlines();
    auto due = Clock::now();
    while (!delayed_.empty() && delayed_.begin()->first <= due) {
      const std::string& id = delayed_.begin()->second;
      auto t = journal_->get(id);
      if (t && *t && (*t)->state == TaskState::queued) queue_.push((*t)->agent, id);
      delayed_.erase(delayed_.begin());
    }
    auto now = Clock::now();
    if (now - last_reconcile_ >= std::chrono::milliseconds(config_.reconcile_interval_ms))
      reconcile(false);
    if (!stuck_.empty() && now - last_stuck_retry_ >= kStuckRetry) {
      last_stuck_retry_ = now;
      retry_stuck();
    }
  }
}

void Orchestrator::reap_children() {
  for (int guard = 0; guard < 100000; ++guard) {
    siginfo_t si{};
    if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid == 0) break;
    auto it = by_pid_.find(si.si_pid);
    if (it == by_pid_.end()) {
      // An orphan reparented to us (we are a child subreaper), or an init whose sandbox is
      // already gone: reap it.
      waitpid(si.si_pid, nullptr, WNOHANG);
      continue;
    }
    std::string id = it->second;
    by_pid_.erase(it);
    auto l = live_.find(id);
    if (l == live_.end() || !l->second->sandbox) {
      waitpid(si.si_pid, nullptr, WNOHANG);
      continue;
    }
    auto status = l->second->sandbox->wait(0);
    finish(*l->second, status ? *status : std::nullopt,
           status ? "" : "waiting for the init failed: " + status.error().message());
  }
}

void Orchestrator::finish(Live& l, std::optional<os::ExitStatus> status,
                          const std::string& lost_why) {
  Task& t = l.task;
  std::string id = t.id;
  drop_stdin(l);
  TaskResult r = t.result.value_or(TaskResult{});
  os::CgroupStats stats;
  if (l.sandbox) {
    auto s = l.sandbox->stats();
    if (s) stats = *s;
  } else if (auto cg = cgroups_->open(id)) {
    auto s = (*cg)->stats();
    if (s) stats = *s;
  }
  if (r.cause == "spawn_failed") {
    // Set when start() failed; the init's exit only confirms it.
  } else if (!t.kill_requested_by.empty()) {
    r.cause = t.kill_requested_by == "deadline" ? "timeout" : "killed";
    r.killed_by = t.kill_requested_by;
  } else if (stats.oom_kills > 0 && (!status || (status->signaled && status->code == SIGKILL))) {
    r.cause = "oom_killed";
  } else if (!status) {
    r.cause = "lost";
    r.error = lost_why;
  } else if (status->signaled) {
    r.cause = "signaled";
  } else {
    r.cause = "exited";
  }
  if (status && r.cause != "spawn_failed") {
    r.exit_code = status->shell_code();
    r.signal = status->signaled ? status->code : 0;
  } else if (!status && r.cause != "spawn_failed") {
    r.exit_code = r.cause == "lost" ? 125 : 128 + SIGKILL;
  }
  r.wall_ms = std::chrono::duration<double, std::milli>(Clock::now() - l.started).count();
  if (l.started == Clock::time_point{}) r.wall_ms = 0;
  r.cpu_usec = stats.cpu_usage_usec;
  r.memory_peak_bytes = stats.memory_peak_bytes;
  r.oom_kills = stats.oom_kills;
  std::string logs = config_.data_dir + "/logs/" + id;
  enforce_log_caps(id + ".stdout");
  enforce_log_caps(id + ".stderr");
  r.stdout_bytes = file_size(logs + ".stdout");
  r.stderr_bytes = file_size(logs + ".stderr");
  r.stdout_truncated = truncated_.count(id + ".stdout") > 0;
  r.stderr_truncated = truncated_.count(id + ".stderr") > 0;
  truncated_.erase(id + ".stdout");
  truncated_.erase(id + ".stderr");
  Result<void> cleaned = l.sandbox ? l.sandbox->destroy() : cleanup_kernel(id);
  if (!cleaned) {
    r.cleanup_error = cleaned.error().message();
    t.stuck = true;
    stuck_.insert(id);
    log_event("task " + id + " is stuck: " + r.cleanup_error);
  } else if (t.stuck) {
    t.stuck = false;  // a kill that could not finish before has now
    stuck_.erase(id);
  }
  t.result = r;
  record(t, TaskState::exited, r.cause);
  if (crash_at_ == "exited") {
    (void)commit();
    crash_point("exited");
  }
  if (!t.stuck && schedule_restart(l)) return;  // `l` is gone
  ::unlink((config_.data_dir + "/stdin/" + id).c_str());
  if (!t.stuck) record(t, TaskState::reaped, "");
  bool remove_after = l.remove_when_reaped;
  bool freed_cpus = cpus_.release(id);
  admitted_memory_ -= l.memory_limit;
  if (--running_per_agent_[t.agent] == 0) running_per_agent_.erase(t.agent);
  if (l.sandbox && l.sandbox->pid() > 0) by_pid_.erase(l.sandbox->pid());
  live_.erase(id);  // `l` and `t` are gone from here on
  if (freed_cpus) apply_shared_cpus();
  if (on_final) on_final(id);
  if (on_output) on_output(id);
  if (remove_after && !stuck_.count(id)) (void)remove(id, false);
}

bool Orchestrator::schedule_restart(Live& l) {
  Task& t = l.task;
  const RestartPolicy& p = l.request.restart;
  const TaskResult& r = *t.result;
  if (p.policy == "no" || t.kill_requested_by == "operator") return false;
  bool clean = r.cause == "exited" && r.exit_code == 0;
  if (p.policy == "on-failure" && clean) return false;
  int64_t done = 0;
  if (auto events = journal_->events(t.id))
    for (const auto& e : *events) done += e.state == "restarting";
  if (p.max_restarts && done >= p.max_restarts) {
    log_event("task " + t.id + ": not restarted, " + std::to_string(done) + " restarts done");
    return false;
  }
  int64_t delay = p.backoff_ms;
  for (int64_t i = 0; i < done && delay < p.max_backoff_ms; ++i) delay *= 2;
  delay = std::min(delay, p.max_backoff_ms);
  std::string id = t.id;
  (void)journal_->append_event(
      id, "restarting",
      "run " + std::to_string(done + 2) + " in " + std::to_string(delay) + " ms after " + r.cause);
  t.pid = 0;
  t.pid_start_time = 0;
  t.kill_requested_by.clear();
  record(t, TaskState::queued, "restart");
  bool freed_cpus = cpus_.release(id);
  if (l.request.exclusive_cpus)
    (void)cpus_.reserve(id, static_cast<size_t>(l.request.exclusive_cpus));
  admitted_memory_ -= l.memory_limit;
  if (--running_per_agent_[t.agent] == 0) running_per_agent_.erase(t.agent);
  delayed_.emplace(Clock::now() + std::chrono::milliseconds(delay), id);
  live_.erase(id);
  if (freed_cpus) apply_shared_cpus();
  if (on_output) on_output(id);
  return true;
}

void Orchestrator::on_deadlines() {
  auto now = Clock::now();
  while (!deadlines_.empty() && deadlines_.top().first <= now) {
    std::string id = deadlines_.top().second;
    deadlines_.pop();
    auto it = live_.find(id);
    if (it == live_.end()) continue;
    Live& l = *it->second;
    if (l.task.kill_requested_by.empty()) {
      l.task.kill_requested_by = "deadline";
      record(l.task, l.task.state, "deadline passed");
    }
    if (!l.term_sent) {
      l.term_sent = true;
      (void)kill(id, SIGTERM, "deadline");
      deadlines_.push({now + std::chrono::milliseconds(config_.kill_grace_ms), id});
    } else {
      (void)kill(id, SIGKILL, "deadline");
    }
  }
}

Result<Task> Orchestrator::kill(const std::string& id, int signal, const std::string& by) {
  auto it = live_.find(id);
  if (it == live_.end()) {
    TRY_ASSIGN(Task t, get(id));
    bool delayed = false;
    for (auto d = delayed_.begin(); d != delayed_.end(); ++d)
      if (d->second == id) {
        delayed_.erase(d);
        delayed = true;
        break;
      }
    if (t.state == TaskState::queued && (delayed || queue_.remove(t.agent, id))) {
      cpus_.release(id);
      TaskResult r;
      r.cause = "killed";
      r.killed_by = by;
      r.exit_code = 128 + SIGKILL;
      t.result = r;
      t.kill_requested_by = by;
      ::unlink((config_.data_dir + "/stdin/" + id).c_str());
      record(t, TaskState::exited, "cancelled while queued");
      record(t, TaskState::reaped, "");
      if (on_final) on_final(id);
      return t;
    }
    return with_code(
        make_error("kill", id,
                   std::string("the task has already ended (") + state_name(t.state) + ")"),
        EBUSY);
  }
  Live& l = *it->second;
  if (l.task.kill_requested_by.empty()) {
    l.task.kill_requested_by = by;
    record(l.task, l.task.state, "kill by " + by);
  }
  Result<void> sent;
  if (l.sandbox) {
    sent = l.sandbox->kill(signal);
  } else if (signal == SIGKILL) {
    auto cg = cgroups_->open(id);
    sent = cg ? (*cg)->kill_all() : Result<void>(cg.error());
  } else if (l.adopted_pidfd) {
    if (syscall(SYS_pidfd_send_signal, l.adopted_pidfd.get(), signal, nullptr, 0) != 0)
      sent = system_error("pidfd_send_signal", "task " + id);
  }
  if (!sent) {
    log_event("kill " + id + ": " + sent.error().message());
    if (signal == SIGKILL && !l.task.stuck) {
      // The cgroup did not empty within the kill's bounded wait: reported, retried, never
      // waited on.
      l.task.stuck = true;
      stuck_.insert(id);
      record(l.task, l.task.state, "stuck: " + sent.error().message());
    }
  }
  return l.task;
}

Result<void> Orchestrator::remove(const std::string& id, bool force) {
  auto it = live_.find(id);
  if (it != live_.end()) {
    if (!force)
      return with_code(make_error("remove", id,
                                  std::string("the task is ") + state_name(it->second->task.state) +
                                      ": kill it first, or force"),
                       EBUSY);
    TRY(kill(id, SIGKILL, "operator"));
    auto again = live_.find(id);
    if (again != live_.end()) again->second->remove_when_reaped = true;
    return ok();
  }
  TRY_ASSIGN(Task t, get(id));
  if (t.state == TaskState::queued) {
    if (!force)
      return with_code(make_error("remove", id, "the task is queued: kill it first, or force"),
                       EBUSY);
    TRY(kill(id, SIGKILL, "operator"));
  }
  if (stuck_.count(id))
    return with_code(make_error("remove", id, "the task's sandbox is stuck in the kernel"), EBUSY);
  TRY(journal_->begin());
  TRY(journal_->remove(id));
  std::string logs = config_.data_dir + "/logs/" + id;
  ::unlink((logs + ".stdout").c_str());
  ::unlink((logs + ".stderr").c_str());
  ::unlink((config_.data_dir + "/stdin/" + id).c_str());
  remove_tree(config_.data_dir + "/outputs/" + id);
  return ok();
}

// ---------------------------------------------------------------------------------------
// stdin of attachable tasks

void Orchestrator::drop_stdin(Live& l) {
  if (!l.stdin_w) return;
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, l.stdin_w.get(), nullptr);
  by_stdin_fd_.erase(l.stdin_w.get());
  l.stdin_w.reset();
  l.stdin_pending.clear();
}

void Orchestrator::flush_stdin(Live& l) {
  while (!l.stdin_pending.empty()) {
    ssize_t n = ::write(l.stdin_w.get(), l.stdin_pending.data(), l.stdin_pending.size());
    if (n > 0) {
      l.stdin_pending.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      // Wait for the task to read: one EPOLLOUT registration while input is pending.
      if (!by_stdin_fd_.count(l.stdin_w.get())) {
        epoll_event ev{};
        ev.events = EPOLLOUT;
        ev.data.fd = l.stdin_w.get();
        epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, l.stdin_w.get(), &ev);
        by_stdin_fd_[l.stdin_w.get()] = l.task.id;
      }
      return;
    }
    // EPIPE: the task closed its stdin; what was pending is dropped.
    drop_stdin(l);
    break;
  }
  if (l.stdin_w && by_stdin_fd_.count(l.stdin_w.get())) {
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, l.stdin_w.get(), nullptr);
    by_stdin_fd_.erase(l.stdin_w.get());
  }
  if (l.stdin_w && l.stdin_close_pending) drop_stdin(l);
  if (on_stdin_drained) on_stdin_drained(l.task.id);
}

Result<size_t> Orchestrator::stdin_write(const std::string& id, std::string_view data) {
  auto it = live_.find(id);
  if (it == live_.end() || !it->second->stdin_w || it->second->stdin_close_pending)
    return with_code(system_error(EPIPE, "write stdin", "task " + id), EPIPE);
  Live& l = *it->second;
  l.stdin_pending.append(data);
  if (l.task.state == TaskState::started && !by_stdin_fd_.count(l.stdin_w.get())) flush_stdin(l);
  return l.stdin_pending.size();
}

void Orchestrator::stdin_close(const std::string& id) {
  auto it = live_.find(id);
  if (it == live_.end() || !it->second->stdin_w) return;
  it->second->stdin_close_pending = true;
  if (it->second->stdin_pending.empty()) drop_stdin(*it->second);
}

// ---------------------------------------------------------------------------------------
// Logs

std::string Orchestrator::log_path(const std::string& id, bool err) const {
  return config_.data_dir + "/logs/" + id + (err ? ".stderr" : ".stdout");
}

bool Orchestrator::log_truncated(const std::string& id, bool err) {
  if (truncated_.count(id + (err ? ".stderr" : ".stdout"))) return true;
  auto t = get(id);
  if (t && t->result) return err ? t->result->stderr_truncated : t->result->stdout_truncated;
  return false;
}

void Orchestrator::enforce_log_caps(const std::string& file) {
  if (file == "*") {
    for (const auto& [id, l] : live_) {
      enforce_log_caps(id + ".stdout");
      enforce_log_caps(id + ".stderr");
    }
    return;
  }
  std::string path = config_.data_dir + "/logs/" + file;
  if (file_size(path) > config_.log_cap_bytes) {
    // The task writes with O_APPEND: its next write lands at the cap again, and is cut
    // again. The log keeps its first log_cap bytes; the disk holds at most a little more.
    if (::truncate(path.c_str(), static_cast<off_t>(config_.log_cap_bytes)) == 0)
      truncated_.insert(file);
  }
  size_t dot = file.rfind('.');
  if (on_output && dot != std::string::npos) on_output(file.substr(0, dot));
}

// ---------------------------------------------------------------------------------------
// Reconciliation

Result<void> Orchestrator::cleanup_kernel(const std::string& id) {
  auto cg = cgroups_->open(id);
  if (cg) TRY((*cg)->destroy().context("removing the sandbox of task " + id));
  std::string dir = config_.state_root() + "/" + id;
  for (const char* f : {"/exec.fifo", "/state.json", "/state.json.tmp"})
    ::unlink((dir + f).c_str());
  if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) return system_error("rmdir", dir);
  return ok();
}

void Orchestrator::reconcile(bool startup) {
  last_reconcile_ = Clock::now();
  if (startup) {
    auto tasks = journal_->unfinished();
    if (!tasks) {
      log_event("reconcile: " + tasks.error().message());
      return;
    }
    (void)journal_->begin();
    for (Task& t : *tasks) {
      switch (t.state) {
        case TaskState::queued: {
          auto req = parse_task_request(t.request_json);
          if (req && req->exclusive_cpus)
            (void)cpus_.reserve(t.id, static_cast<size_t>(req->exclusive_cpus));
          queue_.push(t.agent, t.id);
          break;
        }
        case TaskState::admitted:
        case TaskState::created: {
          // The payload never ran: remove what exists and queue the task again.
          auto c = cleanup_kernel(t.id);
          if (!c) log_event("reconcile " + t.id + ": " + c.error().message());
          t.pid = 0;
          t.pid_start_time = 0;
          record(t, TaskState::queued, "requeued: the daemon stopped before it started");
          auto req = parse_task_request(t.request_json);
          if (req && req->exclusive_cpus)
            (void)cpus_.reserve(t.id, static_cast<size_t>(req->exclusive_cpus));
          queue_.push(t.agent, t.id);
          break;
        }
        case TaskState::started: {
          auto req = parse_task_request(t.request_json);
          bool alive = t.pid > 0 && os::process_alive(t.pid, t.pid_start_time);
          int pidfd = alive ? static_cast<int>(syscall(SYS_pidfd_open, t.pid, 0)) : -1;
          // Checked again after pidfd_open: the pid cannot have been reused in between.
          if (pidfd >= 0 && !os::process_alive(t.pid, t.pid_start_time)) {
            ::close(pidfd);
            pidfd = -1;
          }
          if (pidfd >= 0 && req) {
            auto l = std::make_unique<Live>();
            l->request = std::move(*req);
            l->memory_limit = memory_of(l->request, config_);
            l->adopted_pidfd.reset(pidfd);
            double elapsed = now_seconds() - t.started_at;
            l->started = Clock::now() - std::chrono::milliseconds(
                                            static_cast<int64_t>(elapsed > 0 ? elapsed * 1000 : 0));
            int64_t deadline =
                l->request.deadline_ms > 0 ? l->request.deadline_ms : config_.default_deadline_ms;
            deadlines_.push({l->started + std::chrono::milliseconds(deadline), t.id});
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.fd = pidfd;
            epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, pidfd, &ev);
            by_pidfd_[pidfd] = t.id;
            admitted_memory_ += l->memory_limit;
            ++running_per_agent_[t.agent];
            if (l->request.exclusive_cpus) {
              auto cg = cgroups_->open(t.id);
              auto mine = cg ? parse_cpu_list((*cg)->cpus(), "cpuset.cpus")
                             : Result<std::set<int>>(cg.error());
              if (mine) cpus_.adopt(t.id, *mine);
            }
            record(t, TaskState::started, "adopted after a daemon restart");
            l->task = t;
            live_[t.id] = std::move(l);
          } else {
            if (pidfd >= 0) ::close(pidfd);
            Live l;
            l.task = t;
            if (req) l.request = std::move(*req);
            live_[t.id] = std::make_unique<Live>(std::move(l));
            ++running_per_agent_[t.agent];
            auto status = keeper_exit(t);
            if (status) {
              finish(*live_[t.id], status, "");
              break;
            }
            finish(*live_[t.id], std::nullopt,
                   "the sandbox ended while the daemon was not running; its exit status is "
                   "unknown");
          }
          break;
        }
        case TaskState::exited: {
          auto c = cleanup_kernel(t.id);
          if (c) {
            t.stuck = false;
            record(t, TaskState::reaped, "cleaned up after a daemon restart");
          } else {
            t.stuck = true;
            stuck_.insert(t.id);
            record(t, TaskState::exited, "stuck: " + c.error().message());
          }
          break;
        }
        case TaskState::reaped:
          break;
      }
    }
  }
  // Kernel side: every sandbox under our cgroup parent or state root must be a live task.
  std::set<std::string> names;
  for (const auto& n : cgroups_->list()) names.insert(n);
  for (const auto& n : list_dir(config_.state_root())) names.insert(n);
  for (const auto& n : names) {
    if (live_.count(n) || stuck_.count(n)) continue;
    auto c = cleanup_kernel(n);
    if (c) {
      ++orphans_reaped_;
      log_event("reconcile: removed sandbox " + n + ", which no live task owns");
    } else {
      log_event("reconcile: " + c.error().message());
    }
  }
  // Hidden claims (".<id>.<pid>") of creates that never finished.
  if (DIR* d = opendir(config_.state_root().c_str())) {
    std::vector<std::string> claims;
    while (dirent* e = readdir(d))
      if (e->d_name[0] == '.' && e->d_name[1] && e->d_name[1] != '.') claims.push_back(e->d_name);
    closedir(d);
    for (const auto& c : claims) {
      std::string dir = config_.state_root() + "/" + c;
      ::unlink((dir + "/state.json").c_str());
      ::unlink((dir + "/state.json.tmp").c_str());
      ::rmdir(dir.c_str());
    }
  }
  // Stdin files of tasks that are not waiting for them.
  for (const auto& n : list_dir(config_.data_dir + "/stdin")) {
    if (live_.count(n)) continue;
    auto t = journal_->get(n);
    if (t && *t && !is_final((*t)->state)) continue;
    ::unlink((config_.data_dir + "/stdin/" + n).c_str());
  }
}

std::optional<os::ExitStatus> Orchestrator::keeper_exit(const Task& t) {
  // `clawcage daemon --keeper`: the keeper (our parent, a child subreaper) reaps the inits
  // orphaned by a daemon crash and appends "pid start_time signaled code" lines here. It
  // may lag the pidfd by a moment: a few short reads.
  std::string path = config_.run_dir + "/keeper-exits";
  if (t.pid <= 0 || !path_exists(path)) return std::nullopt;
  // Only a released init's status is the payload's: without the "running" event the daemon
  // died between recording the start and releasing it, and whether it ran is unknown.
  auto events = journal_->events(t.id);
  if (!events) return std::nullopt;
  bool running = false;
  for (const auto& e : *events) running = running || e.state == "running";
  if (!running) return std::nullopt;
  std::string want = std::to_string(t.pid) + " " + std::to_string(t.pid_start_time) + " ";
  for (int attempt = 0; attempt < 20; ++attempt) {
    auto text = read_file(path);
    if (text) {
      size_t pos = 0;
      while (pos < text->size()) {
        size_t nl = text->find('\n', pos);
        if (nl == std::string::npos) break;
        std::string line = text->substr(pos, nl - pos);
        pos = nl + 1;
        if (line.compare(0, want.size(), want) != 0) continue;
        int signaled = 0, code = 0;
        if (sscanf(line.c_str() + want.size(), "%d %d", &signaled, &code) != 2) continue;
        os::ExitStatus st;
        st.signaled = signaled != 0;
        st.code = code;
        return st;
      }
    }
    usleep(5000);
  }
  return std::nullopt;
}

void Orchestrator::retry_stuck() {
  for (auto it = stuck_.begin(); it != stuck_.end();) {
    std::string id = *it;
    if (auto l = live_.find(id); l != live_.end()) {
      // Still running after a kill: kill it again; its exit (SIGCHLD or pidfd) finishes it.
      auto cg = cgroups_->open(id);
      if (cg) (void)(*cg)->kill_all();
      ++it;
      continue;
    }
    auto c = cleanup_kernel(id);
    if (!c) {
      ++it;
      continue;
    }
    it = stuck_.erase(it);
    auto t = get(id);
    if (!t) continue;
    t->stuck = false;
    if (t->result) t->result->cleanup_error.clear();
    record(*t, TaskState::reaped, "no longer stuck");
  }
}

void Orchestrator::apply_shared_cpus() {
  if (!config_.cpu_pinning) return;
  std::string shared = format_cpu_list(cpus_.shared());
  for (auto& [id, l] : live_) {
    // Tasks not created yet get the shared set when they are.
    if (l->request.exclusive_cpus || l->task.state == TaskState::admitted) continue;
    Result<void> r;
    if (l->sandbox) {
      r = l->sandbox->cgroup().set_cpus(shared);
    } else {
      auto cg = cgroups_->open(id);
      r = cg ? (*cg)->set_cpus(shared) : Result<void>(cg.error());
    }
    if (!r) log_event("moving task " + id + " to the shared cores: " + r.error().message());
  }
}

// ---------------------------------------------------------------------------------------
// Health and volumes

HealthReport Orchestrator::health() {
  using nlohmann::json;
  json checks = json::object();
  bool healthy = true;
  auto check = [&](const std::string& name, bool ok, json detail) {
    detail["ok"] = ok;
    checks[name] = detail;
    if (!ok) healthy = false;
  };
  {
    spec::Resources none;
    std::string probe = "_health-probe-" + std::to_string(getpid());
    auto cg = cgroups_->create(probe, none);
    std::string err;
    if (!cg)
      err = cg.error().message();
    else if (auto d = (*cg)->destroy(); !d)
      err = d.error().message();
    check("cgroup_writable", err.empty(), json{{"parent", config_.cgroup_parent}, {"error", err}});
  }
  auto b = read_host_budget();
  if (b) {
    uint64_t pid_headroom = b->pid_max > b->threads ? b->pid_max - b->threads : 0;
    check("pid_headroom", pid_headroom > config_.pid_reserve,
          json{{"pid_max", b->pid_max}, {"tasks", b->threads}, {"headroom", pid_headroom}});
    check("memory_headroom", b->mem_available >= config_.memory_reserve_bytes,
          json{{"mem_total", b->mem_total},
               {"mem_available", b->mem_available},
               {"admitted_limits", admitted_memory_},
               {"capacity", static_cast<double>(b->mem_total) * config_.memory_overcommit}});
    check("fd_headroom", b->fds_open + config_.fd_reserve < b->fd_limit,
          json{{"open", b->fds_open}, {"limit", b->fd_limit}});
  } else {
    check("host_budget", false, json{{"error", b.error().message()}});
  }
  auto w = journal_->probe_writable();
  check("journal_writable", w.ok(),
        json{{"path", journal_->path()}, {"error", w ? "" : w.error().message()}});
  double lag = std::chrono::duration<double>(Clock::now() - last_reconcile_).count();
  check("reconciler", lag < 3.0 * static_cast<double>(config_.reconcile_interval_ms) / 1000.0,
        json{{"lag_seconds", lag}, {"orphans_reaped", orphans_reaped_}});
  check("stuck", stuck_.empty(), json{{"count", stuck_.size()}});
  json cpus{{"pinning", config_.cpu_pinning},
            {"shared", format_cpu_list(cpus_.shared())},
            {"pinnable_free", cpus_.free()},
            {"held_by", cpus_.holders()}};
  json out{{"healthy", healthy},      {"cpus", cpus},
           {"checks", checks},        {"queued", queue_.size()},
           {"running", live_.size()}, {"admission_blocked_by", last_admission_block_}};
  return HealthReport{healthy, out.dump()};
}

std::string Orchestrator::volumes_json() const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& v : config_.volumes)
    list.push_back({{"name", v.name}, {"path", v.path}, {"shared", v.shared}, {"agent", v.agent}});
  return nlohmann::json{{"volumes", list}}.dump();
}

}  // namespace clawcage::orchestrator
