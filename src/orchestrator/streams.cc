// The tasks' standard streams: stdin pipes for attach clients, capped log files.
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

}  // namespace clawcage::orchestrator
