// Supervision: exits (SIGCHLD, adopted pidfds), deadlines, kills, restarts, removal.
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
#include "orchestrator/internal.h"
#include "policy/task_request.h"
#include "policy/volume_rules.h"
#include "spec/task.h"
#include "spec/tiers/tier.h"

namespace clawcage::orchestrator {

using namespace internal;

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
    run_health_checks();
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
    if (reap_health_check(si.si_pid)) continue;
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
  stop_health_checks(l);
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
  audit({{"event", "kill"}, {"task", id}, {"signal", signal}, {"by", by}});
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
  } else if (l.task.tier == "gvisor") {
    // Re-adopted after a restart: its init is `runsc run`, which does not forward signals.
    sent = engine::signal_runsc_sandbox(*cgroups_, config_.state_root(), id, signal);
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

}  // namespace clawcage::orchestrator
