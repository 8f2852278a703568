// Reconciliation of the journal with the kernel; the keeper's exit records; stuck retries;
// the shared CPU set.
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
#include "linux/runsc.h"
#include "orchestrator/internal.h"
#include "policy/task_request.h"
#include "policy/volume_rules.h"
#include "spec/task.h"
#include "spec/tiers/tier.h"

namespace clawcage::orchestrator {

using namespace internal;

// ---------------------------------------------------------------------------------------
// Reconciliation

Result<void> Orchestrator::cleanup_kernel(const std::string& id) {
  auto cg = cgroups_->open(id);
  if (cg) TRY((*cg)->destroy().context("removing the sandbox of task " + id));
  return engine::remove_state_dir(config_.state_root() + "/" + id);
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
            start_health_checks(*l);
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
            if (t.pid > 0) count_delete(t.tier, t.agent);
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
      metrics_.add("clawcage_orphans_reaped_total", {});
      audit({{"event", "orphan_removed"}, {"sandbox", n}});
      count_delete("unknown", "");
      log_event("reconcile: removed sandbox " + n + ", which no live task owns");
    } else {
      log_event("reconcile: " + c.error().message());
    }
  }
  // Hidden claims (".<id>.<pid>") of creates that never finished.
  engine::remove_abandoned_claims(config_.state_root());
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
        // A gvisor task's init was `runsc run`, which reports the payload's signal as 128+N.
        if (t.tier == "gvisor") st = os::decode_runsc_exit(st);
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
    count_delete(t->tier, t->agent);
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

}  // namespace clawcage::orchestrator
