// clawcage bench: the stress test that found the seed's spawn cliff, through the daemon's API.
// N agent tasks are submitted at once; each reads the same shared read-only input and writes
// its own output. Prints the spawn rate in windows of 50 starts, latency percentiles,
// failures by cause and the kernel-side leftovers. --chaos SIGKILLs the daemon at random
// points and restarts it; clients retry with the same task ids (submission is idempotent).
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "api/client.h"
#include "base/files.h"
#include "cli/commands.h"
#include "orchestrator/metrics.h"

namespace clawcage::cli {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct BenchFlags {
  int tasks = 500;
  int clients = 8;
  int agents = 8;  // distinct agent names ("bench-0" ...): metrics cardinality under load
  std::string tier = "container";
  std::string memory = "64M";
  int64_t pids = 64;
  double sleep_s = 0;
  int chaos = 0;
  std::string socket;  // use a running daemon instead of starting one
  std::string journal_sync = "full";
  int timeout_s = 900;
  int probes = 1000;
  bool keep = false;
  bool keeper = false;
  bool json_out = false;
  std::vector<std::string> command;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

bool socket_answers(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

// The daemon the bench owns: its own socket, data, run dir and cgroup parent.
class OwnDaemon {
 public:
  std::string root, socket, parent, input, run_dir;
  std::string journal_sync;
  bool keeper = false;
  pid_t pid = -1;

  // With --keeper the daemon is the keeper's child.
  pid_t daemon_pid() const {
    if (!keeper || pid <= 0) return pid;
    auto c =
        read_file("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
    return c ? static_cast<pid_t>(std::atol(c->c_str())) : -1;
  }

  Result<void> start() {
    pid = fork();
    if (pid < 0) return system_error("fork", "daemon");
    if (pid == 0) {
      std::string log = root + "/daemon.log";
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      if (fd >= 0) dup2(fd, 2);
      std::string vol = "input=" + input + ":shared";
      // State dirs on tmpfs (/run), as in production; journal, logs and outputs on disk.
      std::string data = root + "/data", run = run_dir, audit = root + "/audit.jsonl";
      const char* argv[] = {"clawcage",
                            "daemon",
                            "--socket",
                            socket.c_str(),
                            "--data-dir",
                            data.c_str(),
                            "--run-dir",
                            run.c_str(),
                            "--cgroup-parent",
                            parent.c_str(),
                            "--volume",
                            vol.c_str(),
                            "--journal-sync",
                            journal_sync.c_str(),
                            "--audit-log",
                            audit.c_str(),
                            keeper ? "--keeper" : nullptr,
                            nullptr};
      execv("/proc/self/exe", const_cast<char* const*>(argv));
      _exit(127);
    }
    for (int i = 0; i < 3000; ++i) {
      if (socket_answers(socket)) return ok();
      int status;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return make_error("start", "daemon", "exited; see " + root + "/daemon.log");
      }
      usleep(10000);
    }
    return make_error("start", "daemon", "did not answer within 30 s");
  }

  void signal_and_reap(int sig) {
    if (pid <= 0) return;
    ::kill(pid, sig);
    int status;
    waitpid(pid, &status, 0);
    pid = -1;
  }

  uint64_t rss_kb() const {
    auto text = read_file("/proc/" + std::to_string(daemon_pid()) + "/status");
    if (!text) return 0;
    size_t pos = text->find("VmRSS:");
    return pos == std::string::npos ? 0 : std::strtoull(text->c_str() + pos + 6, nullptr, 10);
  }
};

std::vector<std::string> subdirs(const std::string& path) {
  std::vector<std::string> out;
  if (DIR* d = opendir(path.c_str())) {
    while (dirent* e = readdir(d))
      if (e->d_type == DT_DIR && e->d_name[0] != '.') out.push_back(e->d_name);
    closedir(d);
  }
  return out;
}

// What the kernel still holds for the daemon's tasks: cgroups under its parent, sandbox
// state dirs, processes in those cgroups, mounts under its run dir.
std::vector<std::string> kernel_leftovers(const std::string& parent, const std::string& root) {
  std::vector<std::string> out;
  for (const auto& h : subdirs("/sys/fs/cgroup"))
    for (const auto& c : subdirs("/sys/fs/cgroup/" + h + "/" + parent))
      out.push_back("cgroup " + h + "/" + parent + "/" + c);
  for (const auto& s : subdirs("/run/" + parent + "/sandboxes")) out.push_back("state dir " + s);
  for (const auto& p : subdirs("/proc")) {
    if (p.find_first_not_of("0123456789") != std::string::npos) continue;
    auto cg = read_file("/proc/" + p + "/cgroup");
    if (cg && cg->find("/" + parent + "/") != std::string::npos) {
      auto cmd = read_file("/proc/" + p + "/cmdline");
      std::string c = cmd ? *cmd : "";
      std::replace(c.begin(), c.end(), '\0', ' ');
      size_t at = cg->find("/" + parent + "/");
      size_t end = cg->find('\n', at);
      out.push_back("process " + p + " (" + c + ") in " + cg->substr(at, end - at));
    }
  }
  auto mi = read_file("/proc/self/mountinfo");
  if (mi && mi->find(root) != std::string::npos) out.push_back("mount under " + root);
  return out;
}

void remove_parent_cgroups(const std::string& parent) {
  for (const auto& h : subdirs("/sys/fs/cgroup"))
    rmdir(("/sys/fs/cgroup/" + h + "/" + parent).c_str());
}

int run_bench(BenchFlags f) {
  auto fail = [](const std::string& m) {
    std::cerr << "clawcage bench: " << m << "\n";
    return 125;
  };
  if (f.tasks <= 0 || f.clients <= 0 || f.agents <= 0)
    return fail("--tasks, --clients and --agents must be positive");
  if (f.chaos && !f.socket.empty())
    return fail("--chaos needs the bench's own daemon (no --socket)");
  OwnDaemon d;
  std::string socket = f.socket;
  if (socket.empty()) {
    d.root = "/tmp/clawcage-bench-" + std::to_string(getpid());
    d.socket = d.root + "/api.sock";
    d.parent = "clawcaged-bench-" + std::to_string(getpid());
    d.run_dir = "/run/" + d.parent;
    d.input = d.root + "/input";
    d.journal_sync = f.journal_sync;
    d.keeper = f.keeper;
    if (auto m = make_dirs(d.input, 0755); !m) return fail(m.error().message());
    std::string data(64 * 1024, 'x');
    if (auto w = create_file(d.input + "/data", data); !w) return fail(w.error().message());
    if (auto s = d.start(); !s) return fail(s.error().message());
    socket = d.socket;
  }
  std::vector<std::string> command = f.command;
  if (command.empty()) {
    if (f.sleep_s > 0)
      command = {"/bin/sleep", std::to_string(f.sleep_s)};
    else
      command = {"/bin/sh", "-c", "wc -c /input/data > /output/result"};
  }
  std::string run_id = std::to_string(getpid());
  auto request_for = [&](int i) {
    json r = {{"id", "bench-" + run_id + "-" + std::to_string(i)},
              {"agent", "bench-" + std::to_string(i % f.agents)},
              {"command", command},
              {"tier", f.tier},
              {"memory", f.memory},
              {"pids", f.pids},
              {"deadline", "10m"}};
    if (f.socket.empty()) r["volumes"] = json::array({{{"name", "input"}, {"target", "/input"}}});
    return r.dump();
  };

  // Chaos: SIGKILL the daemon when the number of accepted submissions crosses each of K
  // random thresholds (or, past submission, at random times while tasks run).
  std::atomic<int> accepted{0};
  std::atomic<bool> daemon_down{false};
  std::mutex daemon_mu;
  std::vector<int> thresholds;
  std::mt19937 rng(static_cast<unsigned>(getpid()));
  for (int i = 0; i < f.chaos; ++i)
    thresholds.push_back(std::uniform_int_distribution<int>(f.tasks / 10, f.tasks - 1)(rng));
  std::sort(thresholds.begin(), thresholds.end());
  std::atomic<size_t> next_chaos{0};
  int kills = 0;
  auto maybe_chaos = [&]() {
    size_t k = next_chaos.load();
    if (k >= thresholds.size() || accepted.load() < thresholds[k]) return;
    std::lock_guard<std::mutex> lock(daemon_mu);
    if (next_chaos.load() != k) return;
    daemon_down = true;
    ++kills;
    if (d.keeper) {
      // Kill the daemon, not its keeper, which restarts it.
      pid_t victim = d.daemon_pid();
      if (victim > 0) ::kill(victim, SIGKILL);
      usleep(50000);
      for (int i = 0; i < 3000 && !socket_answers(d.socket); ++i) usleep(10000);
    } else {
      d.signal_and_reap(SIGKILL);
      auto s = d.start();
      if (!s) std::cerr << "clawcage bench: restart: " << s.error().message() << "\n";
    }
    daemon_down = false;
    next_chaos = k + 1;
  };

  std::vector<double> submit_ms;
  std::mutex stats_mu;
  std::atomic<int> rejected_429{0}, retries{0};
  std::atomic<int> next{0};
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < f.clients; ++c) {
    threads.emplace_back([&]() {
      api::Client client(socket);
      for (;;) {
        int i = next.fetch_add(1);
        if (i >= f.tasks) return;
        std::string body = request_for(i);
        for (int attempt = 0; attempt < 100000; ++attempt) {
          auto s0 = Clock::now();
          auto r = client.request("POST", "/v1/tasks", body);
          if (r && (r->status == 201 || r->status == 200)) {
            std::lock_guard<std::mutex> lock(stats_mu);
            submit_ms.push_back(
                std::chrono::duration<double, std::milli>(Clock::now() - s0).count());
            break;
          }
          if (r && r->status == 429) ++rejected_429;
          if (r && r->status != 429 && r->status < 500) {
            std::cerr << "clawcage bench: submit " << i << ": " << api_error(*r).message() << "\n";
            break;
          }
          ++retries;
          usleep(r && r->status == 429 ? 20000 : 50000);
        }
        ++accepted;
        if (f.chaos) maybe_chaos();
      }
    });
  }
  for (auto& t : threads) t.join();
  double submit_s = std::chrono::duration<double>(Clock::now() - t0).count();

  // Wait until every task has its final state, polling the list.
  api::Client client(socket);
  json tasks;
  auto deadline = Clock::now() + std::chrono::seconds(f.timeout_s);
  std::string prefix = "bench-" + run_id + "-";
  uint64_t rss_kb = 0;
  std::vector<double> api_ms;
  bool probed = f.sleep_s <= 0;
  // Progress is polled with cheap queries (is any task still in state S?); the full list,
  // which costs the daemon O(tasks) to serialise, is fetched once at the end.
  auto any_in = [&](const char* state) -> std::optional<bool> {
    auto r = client.request("GET", std::string("/v1/tasks?limit=1&state=") + state);
    if (!r || r->status != 200) return std::nullopt;
    json j = json::parse(r->body, nullptr, false);
    if (j.is_discarded() || !j.contains("tasks")) return std::nullopt;
    return !j["tasks"].empty();
  };
  while (Clock::now() < deadline) {
    if (f.chaos) maybe_chaos();
    bool busy = false, unknown = false;
    for (const char* st : {"queued", "admitted", "created"}) {
      auto a = any_in(st);
      if (!a) unknown = true;
      busy = busy || a.value_or(true);
    }
    if (unknown) {
      usleep(200000);
      continue;
    }
    if (!probed && !busy) {
      auto ended = any_in("reaped");
      auto exited = any_in("exited");
      if (ended && exited && !*ended && !*exited) {
        // Everything alive at once: the daemon's memory and the API's latency now.
        probed = true;
        if (d.pid > 0) rss_kb = d.rss_kb();
        std::uniform_int_distribution<int> pick(0, f.tasks - 1);
        for (int i = 0; i < f.probes; ++i) {
          auto p0 = Clock::now();
          auto g = client.request("GET", "/v1/tasks/" + prefix + std::to_string(pick(rng)));
          if (g && g->status == 200)
            api_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - p0).count());
        }
      } else if (ended && exited) {
        probed = true;  // some ended before the last started: never all alive at once
      }
    }
    if (!busy && any_in("started") == std::optional<bool>(false)) {
      auto r = client.request("GET", "/v1/tasks?limit=0");
      json all = r && r->status == 200 ? json::parse(r->body, nullptr, false) : json();
      if (!all.is_discarded() && all.contains("tasks")) {
        tasks = json::array();
        for (auto& t : all["tasks"])
          if (t["id"].get<std::string>().rfind(prefix, 0) == 0) tasks.push_back(t);
        if (static_cast<int>(tasks.size()) == f.tasks) break;
      }
    }
    if (f.chaos && next_chaos.load() < thresholds.size()) {
      // Thresholds not reached during submission fire now, while tasks run.
      accepted = f.tasks;
    }
    usleep(100000);
  }
  double total_s = std::chrono::duration<double>(Clock::now() - t0).count();

  // Figures from the task records.
  std::vector<double> starts, to_start, run_ms;
  std::map<std::string, int> causes;
  int non_final = 0;
  double first_submit = 1e300, last_exit = 0;
  for (auto& t : tasks) {
    std::string st = t["state"];
    if (st != "exited" && st != "reaped") ++non_final;
    double sub = t["submitted_at"], sta = t["started_at"], ex = t["exited_at"];
    first_submit = std::min(first_submit, sub);
    last_exit = std::max(last_exit, ex);
    if (!t["result"].is_null()) {
      std::string cause = t["result"]["cause"];
      int code = t["result"]["exit_code"];
      causes[cause == "exited" && code != 0 ? "exited_nonzero" : cause]++;
    }
    if (sta > 0) {
      starts.push_back(sta);
      to_start.push_back((sta - sub) * 1000);
      if (ex > 0) run_ms.push_back((ex - sta) * 1000);
    }
  }
  std::sort(starts.begin(), starts.end());
  std::vector<double> windows;
  for (size_t i = 0; i + 50 <= starts.size(); i += 50) {
    double span = starts[i + 49] - starts[i];
    windows.push_back(span > 0 ? 49.0 / span : 0);
  }

  // The metrics' size after the run: families and series (the cardinality an operator pays).
  size_t metric_families = 0, metric_series = 0;
  if (auto m = client.request("GET", "/metrics"); m && m->status == 200) {
    for (const auto& s : orchestrator::parse_samples(m->body)) {
      (void)s;
      ++metric_series;
    }
    for (size_t p = m->body.find("# TYPE "); p != std::string::npos;
         p = m->body.find("# TYPE ", p + 1))
      ++metric_families;
  }

  // Leftovers, counted from the kernel after the daemon stopped.
  std::vector<std::string> leftovers;
  if (d.pid > 0) {
    d.signal_and_reap(SIGTERM);
    // Inits orphaned by a chaos kill are reparented to pid 1, which reaps them in its own
    // time: the kernel is given 5 s to settle before anything counts as left over.
    for (int i = 0; i < 50; ++i) {
      leftovers = kernel_leftovers(d.parent, d.root);
      if (leftovers.empty()) break;
      usleep(100000);
    }
  }

  json out = {
      {"tasks", f.tasks},
      {"tier", f.tier},
      {"clients", f.clients},
      {"agents", f.agents},
      {"chaos_kills", kills},
      {"submit_seconds", submit_s},
      {"total_seconds", total_s},
      {"throughput_per_s", last_exit > first_submit ? f.tasks / (last_exit - first_submit) : 0},
      {"spawn_rate_windows", windows},
      {"submit_ms", {{"p50", percentile(submit_ms, 50)}, {"p99", percentile(submit_ms, 99)}}},
      {"submit_to_start_ms",
       {{"p50", percentile(to_start, 50)},
        {"p90", percentile(to_start, 90)},
        {"p99", percentile(to_start, 99)},
        {"max", percentile(to_start, 100)}}},
      {"start_to_exit_ms",
       {{"p50", percentile(run_ms, 50)},
        {"p90", percentile(run_ms, 90)},
        {"p99", percentile(run_ms, 99)},
        {"max", percentile(run_ms, 100)}}},
      {"causes", causes},
      {"non_final", non_final},
      {"rejected_429", rejected_429.load()},
      {"retries", retries.load()},
      {"leftovers", leftovers},
      {"metric_families", metric_families},
      {"metric_series", metric_series}};
  if (f.sleep_s > 0) {
    out["daemon_rss_mib"] = static_cast<double>(rss_kb) / 1024.0;
    out["api_get_ms"] = {{"p50", percentile(api_ms, 50)}, {"p99", percentile(api_ms, 99)}};
  }
  if (f.json_out) {
    std::cout << out.dump() << "\n";
  } else {
    printf(
        "tasks %d (%s tier, %d clients, %d chaos kills): submitted in %.2f s, all final in %.2f "
        "s\n",
        f.tasks, f.tier.c_str(), f.clients, kills, submit_s, total_s);
    printf("throughput: %.1f tasks/s (first submit to last exit)\n",
           out["throughput_per_s"].get<double>());
    printf("spawn rate per window of 50 starts (tasks/s):");
    for (size_t i = 0; i < windows.size(); ++i) printf("%s %.0f", i % 10 ? "" : "\n ", windows[i]);
    printf("\n");
    if (windows.size() >= 2)
      printf("first window %.0f/s, last %.0f/s: ratio %.2f\n", windows.front(), windows.back(),
             windows.back() > 0 ? windows.front() / windows.back() : 0);
    printf("submit→start ms: p50 %.1f p90 %.1f p99 %.1f max %.1f\n", percentile(to_start, 50),
           percentile(to_start, 90), percentile(to_start, 99), percentile(to_start, 100));
    printf("start→exit ms:   p50 %.1f p90 %.1f p99 %.1f max %.1f\n", percentile(run_ms, 50),
           percentile(run_ms, 90), percentile(run_ms, 99), percentile(run_ms, 100));
    printf("submit request ms: p50 %.1f p99 %.1f; 429s %d; retries %d\n", percentile(submit_ms, 50),
           percentile(submit_ms, 99), rejected_429.load(), retries.load());
    printf("causes:");
    for (const auto& [c, n] : causes) printf(" %s=%d", c.c_str(), n);
    printf("; without a final state: %d\n", non_final);
    if (f.sleep_s > 0)
      printf("with all %d alive: daemon RSS %.1f MiB; API GET p50 %.2f ms p99 %.2f ms\n", f.tasks,
             static_cast<double>(rss_kb) / 1024.0, percentile(api_ms, 50), percentile(api_ms, 99));
    printf("metrics after the run: %zu families, %zu series\n", metric_families, metric_series);
    printf("kernel leftovers: %zu\n", leftovers.size());
    for (const auto& l : leftovers) printf("  %s\n", l.c_str());
  }
  if (d.pid < 0 && !d.root.empty() && leftovers.empty()) {
    remove_parent_cgroups(d.parent);
    remove_tree(d.run_dir);
    if (!f.keep) remove_tree(d.root);  // journal, logs and outputs of the bench's daemon
  }
  return leftovers.empty() && non_final == 0 ? 0 : 1;
}

}  // namespace

void add_bench_command(CLI::App& app, int& exit_code) {
  auto f = std::make_shared<BenchFlags>();
  CLI::App* c = app.add_subcommand(
      "bench", "submit N agent tasks at once through the daemon's API and measure");
  c->add_option("--tasks,-n", f->tasks, "number of tasks (default 500)");
  c->add_option("--clients", f->clients, "concurrent API clients submitting (default 8)");
  c->add_option("--agents", f->agents, "distinct agent names (default 8)");
  c->add_option("--isolate", f->tier, "tier of every task (default container)");
  c->add_option("--memory", f->memory, "memory limit per task (default 64M)");
  c->add_option("--pids", f->pids,
                "pids limit per task (default 64; gvisor: 128, runsc's own tasks count too)");
  c->add_option("--sleep", f->sleep_s,
                "tasks sleep this long; measures daemon RSS and API latency with all alive");
  c->add_option("--chaos", f->chaos, "SIGKILL and restart the daemon this many times");
  c->add_option("--socket", f->socket, "use this running daemon instead of starting one");
  c->add_option("--journal-sync", f->journal_sync,
                "the bench daemon's journal sync: full or normal")
      ->check(CLI::IsMember({"full", "normal"}));
  c->add_option("--timeout", f->timeout_s, "give up waiting after this many seconds (default 900)");
  c->add_option("--probes", f->probes, "API GETs timed with every task alive (default 1000)");
  c->add_flag("--keep", f->keep, "keep the bench daemon's data dir");
  c->add_flag("--keeper", f->keeper,
              "run the daemon under its keeper (--chaos then kills the daemon, not the keeper)");
  c->add_flag("--json", f->json_out, "print the figures as one JSON object");
  c->add_option("command", f->command,
                "task command (after --; default: read input, write output)");
  c->callback([f, c, &exit_code]() {
    for (const auto& a : trailing_command()) f->command.push_back(a);
    if (f->tier == "gvisor" && c->count("--pids") == 0) f->pids = 128;
    exit_code = run_bench(*f);
  });
}

}  // namespace clawcage::cli
