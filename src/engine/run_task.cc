#include "engine/run_task.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>

namespace clawcage::engine {

namespace {

using Clock = std::chrono::steady_clock;

int64_t ms_left(Clock::time_point deadline) {
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : left;
}

enum class Event { exited, deadline, operator_stop };

// Waits for the init's exit, the deadline or an operator signal, whichever comes first.
Result<Event> wait_event(const Sandbox& sb, std::optional<Clock::time_point> deadline,
                         int signal_fd) {
  for (;;) {
    pollfd fds[2] = {{sb.pidfd(), POLLIN, 0}, {signal_fd, POLLIN, 0}};
    int timeout = deadline ? static_cast<int>(std::min<int64_t>(ms_left(*deadline), 1 << 30)) : -1;
    int n = poll(fds, signal_fd >= 0 ? 2 : 1, timeout);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return system_error("poll", "sandbox " + sb.id());
    if (fds[0].revents & POLLIN) return Event::exited;
    if (signal_fd >= 0 && (fds[1].revents & POLLIN)) {
      signalfd_siginfo info;
      (void)!read(signal_fd, &info, sizeof info);
      return Event::operator_stop;
    }
    if (n == 0 && deadline && ms_left(*deadline) == 0) return Event::deadline;
  }
}

}  // namespace

TaskRecord run_task(os::CgroupManager& cgroups, CreateOptions options, const Supervision& sup) {
  TaskRecord rec;
  rec.id = options.id;
  auto t0 = Clock::now();
  auto finish = [&](TaskRecord& r) -> TaskRecord {
    r.wall_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    return r;
  };
  auto created = Sandbox::create(cgroups, std::move(options));
  if (!created) {
    rec.cause = ExitCause::spawn_failed;
    rec.error = created.error().message();
    int code = created.error().code;
    rec.exit_code = created.error().operation == "exec" ? (code == ENOENT ? 127 : 126) : 125;
    return finish(rec);
  }
  Sandbox sb = std::move(created).value();
  std::optional<Clock::time_point> deadline;
  if (sup.timeout_ms > 0) deadline = Clock::now() + std::chrono::milliseconds(sup.timeout_ms);
  auto started = sb.start();
  rec.setup = sb.setup_times();
  rec.warnings = sb.warnings();
  if (!started) {
    rec.cause = ExitCause::spawn_failed;
    rec.error = started.error().message();
    int code = started.error().code;
    rec.exit_code = started.error().operation == "exec" ? (code == ENOENT ? 127 : 126) : 125;
    auto d = sb.destroy();
    if (!d) rec.cleanup_error = d.error().message();
    return finish(rec);
  }

  std::optional<ExitCause> stopped_by;
  std::optional<os::ExitStatus> status;
  // After a stop the wait is bounded too: a process stuck in the kernel must not hang us.
  constexpr auto kKillWait = std::chrono::seconds(10);
  std::optional<Clock::time_point> kill_deadline;
  while (!status) {
    auto ev =
        wait_event(sb, stopped_by ? kill_deadline : deadline, stopped_by ? -1 : sup.signal_fd);
    if (ev && *ev == Event::exited) {
      auto w = sb.wait(0);
      if (w && *w) status = **w;
      continue;
    }
    if (stopped_by) {
      // The kill deadline passed (or polling failed) with the init still there.
      rec.error = "sandbox " + rec.id + " did not exit within 10 s of SIGKILL";
      status = os::ExitStatus{true, SIGKILL};
      break;
    }
    if (!ev) {
      rec.error = ev.error().message();
      stopped_by = ExitCause::killed;
      rec.killed_by = "runtime";
    } else {
      stopped_by = *ev == Event::deadline ? ExitCause::timeout : ExitCause::killed;
      rec.killed_by = *ev == Event::deadline ? "deadline" : "operator";
      // Polite first; a task that ignores SIGTERM is killed with its whole cgroup.
      (void)sb.kill(SIGTERM);
      auto ev2 = wait_event(sb, Clock::now() + std::chrono::milliseconds(sup.kill_grace_ms), -1);
      if (ev2 && *ev2 == Event::exited) {
        kill_deadline = Clock::now() + kKillWait;
        continue;
      }
    }
    (void)sb.kill(SIGKILL);
    kill_deadline = Clock::now() + kKillWait;
  }
  // The init is gone; with no pid namespace (chroot tier) its children may not be: the
  // cgroup kill in destroy() takes them. Read the figures first.
  auto st = sb.stats();
  if (st) {
    rec.cpu_usec = st->cpu_usage_usec;
    rec.memory_peak_bytes = st->memory_peak_bytes;
    rec.oom_kills = st->oom_kills;
    rec.pids_peak = st->pids_peak;
  }
  rec.exit_code = status->shell_code();
  rec.signal = status->signaled ? status->code : 0;
  if (stopped_by) {
    rec.cause = *stopped_by;
  } else if (rec.oom_kills > 0) {
    // The OOM killer's SIGKILL looks like any other: the cgroup's counter tells them apart.
    rec.cause = ExitCause::oom_killed;
  } else {
    rec.cause = status->signaled ? ExitCause::signaled : ExitCause::exited;
  }
  auto t_down = Clock::now();
  auto d = sb.destroy();
  if (!d) rec.cleanup_error = d.error().message();
  rec.teardown_ms = std::chrono::duration<double, std::milli>(Clock::now() - t_down).count();
  return finish(rec);
}

std::string record_to_json(const TaskRecord& r) {
  nlohmann::json j = {{"task", r.id},
                      {"tier", r.tier},
                      {"cause", exit_cause_name(r.cause)},
                      {"exit_code", r.exit_code},
                      {"signal", r.signal},
                      {"wall_ms", r.wall_ms},
                      {"cpu_ms", r.cpu_usec / 1000.0},
                      {"memory_peak_bytes", r.memory_peak_bytes},
                      {"oom_kills", r.oom_kills},
                      {"pids_peak", r.pids_peak},
                      {"controls", r.controls},
                      {"setup_ms",
                       {{"prepare", r.setup.prepare_ms},
                        {"cgroup", r.setup.cgroup_ms},
                        {"clone", r.setup.clone_ms},
                        {"init", r.setup.init_ms},
                        {"start", r.setup.start_ms}}},
                      {"teardown_ms", r.teardown_ms}};
  if (!r.killed_by.empty()) j["killed_by"] = r.killed_by;
  if (!r.error.empty()) j["error"] = r.error;
  if (!r.cleanup_error.empty()) j["cleanup_error"] = r.cleanup_error;
  if (!r.warnings.empty()) j["warnings"] = r.warnings;
  if (!r.image_digest.empty()) j["image_digest"] = r.image_digest;
  if (!r.trust_json.empty()) {
    auto trust = nlohmann::json::parse(r.trust_json, nullptr, false);
    if (!trust.is_discarded()) j["trust"] = std::move(trust);
  }
  return j.dump();
}

}  // namespace clawcage::engine
