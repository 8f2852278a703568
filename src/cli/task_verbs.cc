// The daemon's client verbs, docker-style: submit, ps, logs, wait, kill, rm. Each talks to
// `clawcage daemon` over its unix socket (docs/api.md); none touches sandboxes itself.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "api/client.h"
#include "base/files.h"
#include "cli/commands.h"

namespace clawcage::cli {

CLI::Option* add_socket_option(CLI::App* c, std::string& socket) {
  socket = api::default_socket();
  return c->add_option("--socket", socket,
                       "the daemon's API socket (default $CLAWCAGE_SOCKET, else "
                       "/run/clawcage/api.sock)");
}

std::string human_age(double seconds) {
  if (seconds < 0) seconds = 0;
  auto s = static_cast<int64_t>(seconds);
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m";
  if (s < 86400) return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

namespace {

using nlohmann::json;

// `clawcage kill ID [SIGNAL]` is the OCI lifecycle's (lifecycle.cc): the daemon's kill verb
// needs a name of its own.
constexpr const char* kKillVerb = "kill";

int fail(const std::string& verb, const Error& e) {
  std::cerr << "clawcage " << verb << ": " << e.message() << "\n";
  return 125;
}

// Binary-safe: every byte, through EINTR and short writes.
Result<void> write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return system_error("write", fd == 1 ? "stdout" : "fd " + std::to_string(fd));
    data.remove_prefix(static_cast<size_t>(n));
  }
  return ok();
}

Result<std::string> read_all_stdin() {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return system_error("read", "stdin");
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

// /v1/tasks/ID + tail, the id escaped (never a path of its own).
Result<std::string> task_path(const std::string& id, const std::string& tail = "") {
  if (id.empty() || id == "." || id == "..") return invalid_field("ID", "not a task id: " + id);
  return "/v1/tasks/" + api::url_escape(id) + tail;
}

Result<int64_t> parse_count(const std::string& flag, const std::string& text) {
  bool digits = !text.empty() && text.size() <= 18;
  for (char ch : text) digits = digits && ch >= '0' && ch <= '9';
  if (!digits) return invalid_field(flag, "expected a non-negative integer: \"" + text + "\"");
  return std::strtoll(text.c_str(), nullptr, 10);
}

Result<json> parse_json(const std::string& body, const std::string& what) {
  auto j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return make_error("parse", what, "the daemon's answer is not JSON");
  return j;
}

std::string str_of(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

void line_out(const std::string& text) {
  std::cout << text;
  if (text.empty() || text.back() != '\n') std::cout << "\n";
  std::cout.flush();
}

struct WaitFlags {
  std::string socket, id, timeout;
  bool json = false;
};
int wait(const WaitFlags& f);
int attach_and_wait(const WaitFlags& f, bool send_stdin);

// ---- submit ----

struct SubmitFlags {
  std::string socket;
  std::string agent = "default";
  std::string id, isolate, image, rootfs, cwd, user, hostname;
  std::string memory, pids, cpus, cpu_shares, scratch, timeout;
  // Services (docker run's flags): restart policy and a health command run with /bin/sh -c.
  std::string restart, health_cmd, health_interval, health_timeout, health_retries,
      health_start_period;
  std::vector<std::string> env, volumes, command;
  bool no_output = false, interactive = false, json = false;
  std::string stdin_file;  // sent with the request ("-": our stdin)
  // `clawcage run` flags that mean nothing to the daemon: accepted, then refused.
  std::vector<std::string> ro, rw;
  std::string output;
};

Result<json> parse_volume(const std::string& text) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    size_t colon = text.find(':', start);
    parts.push_back(text.substr(start, colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  bool good = (parts.size() == 2 || parts.size() == 3) && !parts[0].empty() && !parts[1].empty();
  if (good && parts.size() == 3) good = parts[2] == "ro" || parts[2] == "rw";
  if (!good) return invalid_field("--volume", "expected NAME:TARGET[:ro|rw]: \"" + text + "\"");
  json v = {{"name", parts[0]}, {"target", parts[1]}};
  if (parts.size() == 3) v["mode"] = parts[2];
  return v;
}

// The POST /v1/tasks body, keys as docs/api.md names them; unset flags are left out so the
// daemon's defaults apply.
Result<std::string> build_request(const SubmitFlags& f) {
  if (!f.ro.empty())
    return invalid_field("--ro", "the daemon mounts named volumes: use --volume NAME:TARGET");
  if (!f.rw.empty())
    return invalid_field("--rw", "the daemon mounts named volumes: use --volume NAME:TARGET:rw");
  if (!f.output.empty())
    return invalid_field("--output",
                         "the daemon gives every task its own output dir (--no-output: none)");
  if (f.command.empty())
    return invalid_field("command", "required: clawcage submit [flags] -- CMD [ARG...]");
  json r = {{"agent", f.agent}, {"command", f.command}};
  auto set = [&](const char* key, const std::string& v) {
    if (!v.empty()) r[key] = v;
  };
  set("id", f.id);
  set("tier", f.isolate);
  set("image", f.image);
  set("rootfs", f.rootfs);
  set("cwd", f.cwd);
  set("user", f.user);
  set("hostname", f.hostname);
  set("memory", f.memory);
  set("cpus", f.cpus);
  set("scratch", f.scratch);
  set("deadline", f.timeout);
  if (!f.pids.empty()) {
    TRY_ASSIGN(r["pids"], parse_count("--pids", f.pids));
  }
  if (!f.cpu_shares.empty()) {
    TRY_ASSIGN(r["cpu_shares"], parse_count("--cpu-shares", f.cpu_shares));
  }
  if (!f.env.empty()) r["env"] = f.env;
  if (!f.volumes.empty()) {
    json vs = json::array();
    for (const auto& v : f.volumes) {
      TRY_ASSIGN(json one, parse_volume(v));
      vs.push_back(std::move(one));
    }
    r["volumes"] = std::move(vs);
  }
  if (!f.restart.empty()) {
    // docker's form: no, always, on-failure[:MAX]
    std::string policy = f.restart.substr(0, f.restart.find(':'));
    r["restart"] = {{"policy", policy}};
    if (policy == "on-failure" && f.restart.size() > policy.size()) {
      TRY_ASSIGN(r["restart"]["max_restarts"],
                 parse_count("--restart", f.restart.substr(policy.size() + 1)));
    } else if (f.restart.size() > policy.size()) {
      return invalid_field("--restart",
                           "expected no, always or on-failure[:MAX], got \"" + f.restart + "\"");
    }
  }
  if (!f.health_cmd.empty()) {
    json h = {{"command", {"/bin/sh", "-c", f.health_cmd}}};
    auto hset = [&](const char* key, const std::string& v) {
      if (!v.empty()) h[key] = v;
    };
    hset("interval", f.health_interval);
    hset("timeout", f.health_timeout);
    hset("start_period", f.health_start_period);
    if (!f.health_retries.empty()) {
      TRY_ASSIGN(h["retries"], parse_count("--health-retries", f.health_retries));
    }
    r["health"] = std::move(h);
  } else if (!f.health_interval.empty() || !f.health_timeout.empty() || !f.health_retries.empty() ||
             !f.health_start_period.empty()) {
    return invalid_field("--health-cmd", "required by the other --health-* flags");
  }
  if (f.no_output) r["output"] = false;
  if (f.interactive) r["stdin_open"] = true;
  if (!f.stdin_file.empty()) {
    std::string data;
    if (f.stdin_file == "-") {
      TRY_ASSIGN(data, read_all_stdin());
    } else {
      TRY_ASSIGN(data, read_file(f.stdin_file));
    }
    try {
      (void)json(data).dump();
    } catch (const json::exception&) {
      return invalid_field("stdin", "not UTF-8 text: the API carries stdin as a JSON string");
    }
    r["stdin"] = std::move(data);
  }
  try {
    return r.dump();
  } catch (const json::exception& e) {  // a flag's value that is not UTF-8
    return make_error("encode", "the request", e.what());
  }
}

int submit(const SubmitFlags& f) {
  auto body = build_request(f);
  if (!body) return fail("submit", body.error());
  api::Client client(f.socket);
  auto r = client.request("POST", "/v1/tasks", *body);
  if (!r) return fail("submit", r.error());
  if (r->status != 200 && r->status != 201) return fail("submit", api::api_error(*r));
  auto task = parse_json(r->body, "POST /v1/tasks");
  if (!task) return fail("submit", task.error());
  std::string id = str_of(*task, "id");
  if (id.empty()) return fail("submit", make_error("parse", "POST /v1/tasks", "no task id"));
  if (f.interactive) {
    // Like `docker run -i`: our stdin streams into the task, its output comes back, and
    // we exit with its code.
    WaitFlags w;
    w.socket = f.socket;
    w.id = id;
    return attach_and_wait(w, true);
  }
  line_out(f.json ? r->body : id);
  return 0;
}

// ---- ps ----

struct PsFlags {
  std::string socket, state, agent, limit;
  bool json = false;
};

int ps(const PsFlags& f) {
  std::string query;
  auto add = [&](const char* key, const std::string& v) {
    if (v.empty()) return;
    query += (query.empty() ? "?" : "&") + std::string(key) + "=" + api::url_escape(v);
  };
  if (!f.limit.empty()) {
    auto n = parse_count("--limit", f.limit);
    if (!n) return fail("ps", n.error());
  }
  add("state", f.state);
  add("agent", f.agent);
  add("limit", f.limit);
  api::Client client(f.socket);
  auto r = client.request("GET", "/v1/tasks" + query);
  if (!r) return fail("ps", r.error());
  if (r->status != 200) return fail("ps", api::api_error(*r));
  auto answer = parse_json(r->body, "GET /v1/tasks");
  if (!answer) return fail("ps", answer.error());
  auto it = answer->find("tasks");
  if (it == answer->end() || !it->is_array())
    return fail("ps", make_error("parse", "GET /v1/tasks", "no \"tasks\" list"));
  if (f.json) {
    line_out(it->dump());
    return 0;
  }
  double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::vector<std::vector<std::string>> rows = {
      {"ID", "AGENT", "STATE", "TIER", "CAUSE", "CODE", "AGE"}};
  for (const auto& t : *it) {
    if (!t.is_object()) continue;
    std::string cause = "-", code = "-", age = "-";
    auto res = t.find("result");
    if (res != t.end() && res->is_object()) {
      if (!str_of(*res, "cause").empty()) cause = str_of(*res, "cause");
      auto c = res->find("exit_code");
      if (c != res->end() && c->is_number_integer()) code = std::to_string(c->get<int64_t>());
    }
    auto sub = t.find("submitted_at");
    if (sub != t.end() && sub->is_number()) age = human_age(now - sub->get<double>());
    auto dash = [](std::string s) { return s.empty() ? std::string("-") : s; };
    std::string state = dash(str_of(t, "state"));
    auto health = t.find("health");
    if (health != t.end() && health->is_object() && !str_of(*health, "status").empty())
      state += " (" + str_of(*health, "status") + ")";
    rows.push_back({dash(str_of(t, "id")), dash(str_of(t, "agent")), state, dash(str_of(t, "tier")),
                    cause, code, age});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  std::string out;
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      out += row[i];
      if (i + 1 < row.size()) out += std::string(width[i] - row[i].size() + 3, ' ');
    }
    out += "\n";
  }
  std::cout << out << std::flush;
  return 0;
}

// ---- logs ----

struct LogsFlags {
  std::string socket, id;
  bool follow = false, stderr_stream = false;
};

void warn_truncated(const std::map<std::string, std::string>& headers) {
  auto it = headers.find("x-clawcage-truncated");
  if (it != headers.end() && it->second == "true")
    std::cerr << "clawcage logs: warning: the log hit its cap: the output is truncated\n";
}

int logs(const LogsFlags& f) {
  std::string query = std::string("?stream=") + (f.stderr_stream ? "stderr" : "stdout");
  if (f.follow) query += "&follow=1";
  auto path = task_path(f.id, "/logs" + query);
  if (!path) return fail("logs", path.error());
  // Streamed either way: a log is written out as it arrives, never held whole.
  api::Client client(f.socket);
  Result<void> written = ok();
  std::map<std::string, std::string> headers;
  auto status = client.stream(
      *path,
      [&](std::string_view data) {
        written = write_all(1, data);
        return written.ok();
      },
      &headers);
  if (!written) return fail("logs", written.error());
  if (!status) return fail("logs", status.error());
  warn_truncated(headers);
  return 0;
}

// ---- wait ----

// The exit code `clawcage run` would have given for this task.
int wait(const WaitFlags& f) {
  std::string query;
  if (!f.timeout.empty()) {
    char* end = nullptr;
    double t = std::strtod(f.timeout.c_str(), &end);
    if (end == f.timeout.c_str() || *end != '\0' || !(t >= 0))
      return fail("wait", invalid_field("--timeout", "expected seconds: \"" + f.timeout + "\""));
    query = "?timeout=" + api::url_escape(f.timeout);
  }
  auto path = task_path(f.id, "/wait" + query);
  if (!path) return fail("wait", path.error());
  api::Client client(f.socket);
  auto r = client.request("GET", *path);
  if (!r) return fail("wait", r.error());
  if (r->status == 408) {
    std::cerr << "clawcage wait: " << f.id << ": still running"
              << (f.timeout.empty() ? "" : " after " + f.timeout + "s") << "\n";
    return 124;
  }
  if (r->status != 200) return fail("wait", api::api_error(*r));
  auto task = parse_json(r->body, *path);
  if (!task) return fail("wait", task.error());
  if (f.json) line_out(r->body);
  auto res = task->find("result");
  if (res == task->end() || !res->is_object())
    return fail("wait", make_error("parse", *path, "the task has no result"));
  std::string cause = str_of(*res, "cause");
  std::string error = str_of(*res, "error");
  auto c = res->find("exit_code");
  int code = c != res->end() && c->is_number_integer() ? c->get<int>() : 125;
  if (cause == "lost") {
    std::cerr << "clawcage wait: task " << f.id << " was lost"
              << (error.empty() ? "" : ": " + error) << "\n";
    return 125;
  }
  if (cause == "spawn_failed") {
    std::cerr << "clawcage wait: " << (error.empty() ? "the task could not be started" : error)
              << "\n";
    return code == 0 ? 125 : code;
  }
  std::string cleanup = str_of(*res, "cleanup_error");
  if (!cleanup.empty()) {
    std::cerr << "clawcage wait: cleanup: " << cleanup << "\n";
    if (code == 0) return 125;
  }
  return code;
}

// ---- attach ----

int attach_and_wait(const WaitFlags& f, bool send_stdin) {
  api::Client client(f.socket);
  auto a = client.attach(f.id, send_stdin, STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO);
  if (!a) return fail("attach", a.error());
  return wait(f);
}

// ---- kill ----

struct KillFlags {
  std::string socket, id, signal = "KILL";
};

int kill_task(const KillFlags& f) {
  auto path = task_path(f.id, "/kill");
  if (!path) return fail(kKillVerb, path.error());
  bool number = !f.signal.empty();
  for (char ch : f.signal) number = number && ch >= '0' && ch <= '9';
  json body;
  if (number && f.signal.size() < 4) {
    body["signal"] = std::atoi(f.signal.c_str());
  } else {
    body["signal"] = f.signal;
  }
  std::string text;
  try {
    text = body.dump();
  } catch (const json::exception& e) {
    return fail(kKillVerb, invalid_field("--signal", e.what()));
  }
  api::Client client(f.socket);
  auto r = client.request("POST", *path, text);
  if (!r) return fail(kKillVerb, r.error());
  if (r->status < 200 || r->status >= 300) return fail(kKillVerb, api::api_error(*r));
  return 0;
}

// ---- rm ----

struct RmFlags {
  std::string socket, id;
  bool force = false;
};

int rm(const RmFlags& f) {
  auto path = task_path(f.id, f.force ? "?force=1" : "");
  if (!path) return fail("rm", path.error());
  api::Client client(f.socket);
  auto r = client.request("DELETE", *path);
  if (!r) return fail("rm", r.error());
  if (r->status < 200 || r->status >= 300) return fail("rm", api::api_error(*r));
  return 0;
}

}  // namespace

void add_task_verbs(CLI::App& app, int& exit_code) {
  auto s = std::make_shared<SubmitFlags>();
  CLI::App* c = app.add_subcommand(
      "submit", "queue a task with the daemon and print its id (the daemon runs it)");
  add_socket_option(c, s->socket);
  c->add_option("--agent", s->agent, "agent name: quotas and fair queueing (default \"default\")");
  c->add_option("--id", s->id, "task id (default: the daemon's); resubmitting it is idempotent");
  c->add_option("--isolate", s->isolate, "tier: chroot, container or strict (default: daemon's)");
  c->add_option("--image", s->image, "an image from the daemon's store: name:tag or @sha256:...");
  c->add_option("--rootfs", s->rootfs, "a host directory as the rootfs instead of an image");
  c->add_option("--env,-e", s->env, "NAME=VALUE");
  c->add_option("--cwd,-w", s->cwd, "working directory in the sandbox");
  c->add_option("--user,-u", s->user, "UID[:GID] in the sandbox");
  c->add_option("--hostname", s->hostname, "hostname");
  c->add_option("--memory", s->memory, "memory limit, e.g. 256M (default: the daemon's)");
  c->add_option("--pids", s->pids, "maximum number of processes (default: the daemon's)");
  c->add_option("--cpus", s->cpus, "CPU quota in cores, e.g. 0.5");
  c->add_option("--cpu-shares", s->cpu_shares, "relative CPU weight under contention");
  c->add_option("--scratch", s->scratch, "SIZE of a private tmpfs at /scratch");
  c->add_option("--timeout", s->timeout, "deadline, e.g. 30s (default and cap: the daemon's)");
  c->add_option("--restart", s->restart, "no, always or on-failure[:MAX] (a service)");
  c->add_option("--health-cmd", s->health_cmd, "health command, run in the sandbox by /bin/sh -c");
  c->add_option("--health-interval", s->health_interval, "between checks (default 30s)");
  c->add_option("--health-timeout", s->health_timeout, "a check's time limit (default 10s)");
  c->add_option("--health-retries", s->health_retries, "failures in a row (default 3)");
  c->add_option("--health-start-period", s->health_start_period,
                "failures in it do not count (default 0)");
  c->add_option("--volume", s->volumes,
                "NAME:TARGET[:ro|rw] a named volume of the daemon's config (default ro)");
  c->add_flag("--no-output", s->no_output, "no per-task output dir at /output");
  c->add_flag("--interactive,-i", s->interactive,
              "like docker run -i: stream our stdin to the task, print its output, exit with "
              "its code");
  c->add_option("--stdin-file", s->stdin_file,
                "send this file (\"-\": our stdin) with the request as the task's stdin "
                "(UTF-8 text, within the 1 MiB request limit)");
  c->add_flag("--json", s->json, "print the whole task JSON instead of its id");
  c->add_option("--ro", s->ro, "refused: the daemon mounts named volumes (use --volume)");
  c->add_option("--rw", s->rw, "refused: the daemon mounts named volumes (use --volume)");
  c->add_option("--output", s->output, "refused: the daemon gives every task its own output dir");
  c->add_option("command", s->command, "command and arguments (after --)");
  one_value_per_use(c);
  c->callback([s, &exit_code] {
    for (const auto& a : trailing_command()) s->command.push_back(a);
    exit_code = submit(*s);
  });

  auto at = std::make_shared<WaitFlags>();
  auto at_no_stdin = std::make_shared<bool>(false);
  CLI::App* ac = app.add_subcommand(
      "attach", "stream stdin to a daemon task and its output back; exit with its code");
  add_socket_option(ac, at->socket);
  ac->add_flag("--no-stdin", *at_no_stdin, "only follow the output");
  ac->add_option("id", at->id, "task id")->required();
  ac->callback([at, at_no_stdin, &exit_code] { exit_code = attach_and_wait(*at, !*at_no_stdin); });

  auto p = std::make_shared<PsFlags>();
  CLI::App* pc = app.add_subcommand("ps", "list the daemon's tasks, newest first");
  add_socket_option(pc, p->socket);
  pc->add_option("--state", p->state,
                 "only tasks in this state: queued, admitted, created, started, exited, reaped");
  pc->add_option("--agent", p->agent, "only this agent's tasks");
  pc->add_option("--limit", p->limit, "at most N tasks");
  pc->add_flag("--json", p->json, "print the JSON list of tasks");
  one_value_per_use(pc);
  pc->callback([p, &exit_code] { exit_code = ps(*p); });

  auto l = std::make_shared<LogsFlags>();
  CLI::App* lc = app.add_subcommand("logs", "print a daemon task's stdout (or stderr)");
  add_socket_option(lc, l->socket);
  lc->add_flag("--follow,-f", l->follow, "stream until the task has ended");
  lc->add_flag("--stderr", l->stderr_stream, "the task's stderr instead of its stdout");
  lc->add_option("id", l->id, "task id")->required();
  one_value_per_use(lc);
  lc->callback([l, &exit_code] { exit_code = logs(*l); });

  auto w = std::make_shared<WaitFlags>();
  CLI::App* wc = app.add_subcommand(
      "wait", "wait for a daemon task to end; exit with its exit code, as `clawcage run` would");
  add_socket_option(wc, w->socket);
  wc->add_option("--timeout", w->timeout, "give up after SECONDS (exit 124)");
  wc->add_flag("--json", w->json, "print the task JSON on stdout");
  wc->add_option("id", w->id, "task id")->required();
  one_value_per_use(wc);
  wc->callback([w, &exit_code] { exit_code = wait(*w); });

  auto k = std::make_shared<KillFlags>();
  CLI::App* kc = app.add_subcommand(
      kKillVerb,
      "kill a daemon task (a queued one is cancelled); `clawcage oci kill` is the OCI verb");
  add_socket_option(kc, k->socket);
  kc->add_option("--signal,-s", k->signal, "signal name or number (default KILL)");
  kc->add_option("id", k->id, "task id")->required();
  one_value_per_use(kc);
  kc->callback([k, &exit_code] { exit_code = kill_task(*k); });

  auto r = std::make_shared<RmFlags>();
  CLI::App* rc = app.add_subcommand("rm", "remove an ended daemon task's record and logs");
  add_socket_option(rc, r->socket);
  rc->add_flag("--force,-f", r->force, "kill a live task first");
  rc->add_option("id", r->id, "task id")->required();
  one_value_per_use(rc);
  rc->callback([r, &exit_code] { exit_code = rm(*r); });
}

}  // namespace clawcage::cli
