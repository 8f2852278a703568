#include "api/server.h"

#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <vector>

#include "base/files.h"
#include "orchestrator/orchestrator.h"

namespace clawcage::api {

namespace web {
// web/index.html, web/app.js and npm's chart.js, embedded by CMake (cmake/embed.cmake).
extern const char kIndexHtml[];
extern const char kAppJs[];
extern const char kChartJs[];
}  // namespace web

namespace {

using orchestrator::Orchestrator;
using orchestrator::Task;
using Clock = std::chrono::steady_clock;

constexpr size_t kMaxBody = 1 << 20;

int http_status(const Error& e) {
  switch (e.reason ? e.reason : e.code) {
    case EINVAL:
      return MHD_HTTP_BAD_REQUEST;
    case EACCES:
    case EPERM:
      return MHD_HTTP_FORBIDDEN;
    case ENOENT:
      return MHD_HTTP_NOT_FOUND;
    case EEXIST:
    case EBUSY:
      return MHD_HTTP_CONFLICT;
    case E2BIG:
      return 413;
    case EAGAIN:
      return MHD_HTTP_TOO_MANY_REQUESTS;
    default:
      return MHD_HTTP_INTERNAL_SERVER_ERROR;
  }
}

std::string error_json(const std::string& message) {
  return nlohmann::json{{"error", message}}.dump();
}

int parse_signal(const nlohmann::json& v, std::string& why) {
  static const std::map<std::string, int> names = {
      {"KILL", SIGKILL}, {"TERM", SIGTERM}, {"INT", SIGINT},   {"HUP", SIGHUP},  {"QUIT", SIGQUIT},
      {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"STOP", SIGSTOP}, {"CONT", SIGCONT}};
  if (v.is_number_integer()) {
    int n = v.get<int>();
    if (n > 0 && n < 65) return n;
  } else if (v.is_string()) {
    std::string s = v.get<std::string>();
    if (s.rfind("SIG", 0) == 0) s = s.substr(3);
    auto it = names.find(s);
    if (it != names.end()) return it->second;
  }
  why = "signal: expected a signal name (KILL, TERM, ...) or number 1..64";
  return 0;
}

class Server;

// One HTTP request, from its first header to its completion.
struct Conn {
  Server* server = nullptr;
  MHD_Connection* connection = nullptr;
  std::string method, url;
  std::string body;
  bool too_large = false;
  bool suspended = false;
  // Set when the answer is known but waits (for a commit, a task's end, a timeout).
  bool ready = false;
  int status = 0;
  std::string response;
  std::map<std::string, std::string> headers;
  // wait
  std::string task_id;
  std::optional<Clock::time_point> wait_deadline;
  // logs follow
  UniqueFd log_fd;
  uint64_t log_pos = 0;
  uint64_t log_cap = 0;
  // attach
  bool attach_stdin = false;
};

// An attached client (POST /v1/tasks/{id}/attach, upgraded to a raw stream): its bytes go
// to the task's stdin; the task's stdout and stderr come back from the log files, framed as
// Docker frames them: [stream (1 stdout, 2 stderr), 0, 0, 0, length (big-endian u32)] + data.
struct AttachSession {
  std::string task_id;
  int sock = -1;
  MHD_UpgradeResponseHandle* urh = nullptr;
  bool stdin_enabled = false;
  bool reading = true;
  bool task_done = false;
  UniqueFd logs[2];
  uint64_t pos[2] = {0, 0};
  std::string out;  // framed output not yet written
};

class Server {
 public:
  // metrics_only: the TCP listener, which answers GET /metrics and nothing else.
  explicit Server(Orchestrator& o, bool metrics_only = false)
      : orch_(o), metrics_only_(metrics_only) {}

  Result<void> start(int listen_fd, int loop_epoll) {
    loop_epoll_ = loop_epoll;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE | MHD_USE_TURBO;
    mhd_ = MHD_start_daemon(flags, 0, nullptr, nullptr, &Server::handler_cb, this,
                            MHD_OPTION_LISTEN_SOCKET, listen_fd, MHD_OPTION_NOTIFY_COMPLETED,
                            &Server::completed_cb, this, MHD_OPTION_CONNECTION_LIMIT, 4096u,
                            MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                            static_cast<size_t>(128 * 1024), MHD_OPTION_END);
    if (!mhd_) return make_error("start", "HTTP server", "libmicrohttpd refused to start");
    const MHD_DaemonInfo* info = MHD_get_daemon_info(mhd_, MHD_DAEMON_INFO_EPOLL_FD);
    if (!info) return make_error("start", "HTTP server", "no epoll fd");
    epoll_fd_ = info->epoll_fd;
    if (metrics_only_) return ok();
    orch_.on_final = [this](const std::string& id) {
      wake(waiters_, id);
      // A follower of a task that ended without output (cancelled, spawn failed) must end too.
      wake(followers_, id);
      for_sessions(id, [this](AttachSession& a) {
        a.task_done = true;
        pump(a);
      });
    };
    orch_.on_output = [this](const std::string& id) {
      wake(followers_, id);
      for_sessions(id, [this](AttachSession& a) { pump(a); });
    };
    orch_.on_stdin_drained = [this](const std::string& id) {
      for_sessions(id, [this](AttachSession& a) {
        if (!a.reading && a.stdin_enabled && a.sock >= 0) set_reading(a, true);
      });
    };
    return ok();
  }

  // An event on an attached client's socket; false if fd is not one.
  bool on_socket(int fd, uint32_t events) {
    auto it = sessions_.find(fd);
    if (it == sessions_.end()) return false;
    AttachSession& a = *it->second;
    if (events & EPOLLOUT) pump(a);
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP | EPOLLERR)) && a.reading) read_client(a);
    if (a.sock >= 0 && a.task_done && a.out.empty()) close_session(a);
    std::erase_if(sessions_, [](const auto& kv) { return kv.second->sock < 0; });
    return true;
  }

  void stop() {
    for (auto& [fd, a] : sessions_) close_session(*a);
    sessions_.clear();
    // Suspended connections must be resumed before MHD stops.
    for (auto* m : {&waiters_, &followers_})
      for (auto& [id, c] : *m) resume(c, 503, error_json("the daemon is stopping"));
    for (Conn* c : awaiting_commit_) resume(c, 503, error_json("the daemon is stopping"));
    waiters_.clear();
    followers_.clear();
    awaiting_commit_.clear();
    if (mhd_) {
      MHD_run(mhd_);
      MHD_stop_daemon(mhd_);
      mhd_ = nullptr;
    }
  }

  int epoll_fd() const { return epoll_fd_; }
  void run() { MHD_run(mhd_); }

  int timeout_ms() {
    MHD_UNSIGNED_LONG_LONG t = 0;
    if (MHD_get_timeout(mhd_, &t) == MHD_YES) return static_cast<int>(std::min<uint64_t>(t, 1000));
    return 1000;
  }

  // After the loop's commit: every answer that waited for it goes out.
  void committed(bool ok, const std::string& error) {
    for (Conn* c : awaiting_commit_) {
      if (ok)
        resume(c, c->status, c->response);
      else
        resume(c, 500, error_json("the journal could not be written: " + error));
    }
    awaiting_commit_.clear();
  }

  void expire_waits() {
    auto now = Clock::now();
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      Conn* c = it->second;
      if (c->wait_deadline && *c->wait_deadline <= now) {
        resume(c, MHD_HTTP_REQUEST_TIMEOUT,
               error_json("task " + c->task_id + " did not end within the timeout"));
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
  }

  bool has_waits_with_deadline() const {
    for (const auto& [id, c] : waiters_)
      if (c->wait_deadline) return true;
    return false;
  }

 private:
  static MHD_Result handler_cb(void* cls, MHD_Connection* connection, const char* url,
                               const char* method, const char*, const char* upload_data,
                               size_t* upload_size, void** con_cls) {
    auto* self = static_cast<Server*>(cls);
    auto* c = static_cast<Conn*>(*con_cls);
    if (!c) {
      c = new Conn;
      c->connection = connection;
      c->method = method;
      c->url = url;
      *con_cls = c;
      return MHD_YES;
    }
    if (*upload_size) {
      if (c->body.size() + *upload_size > kMaxBody)
        c->too_large = true;
      else
        c->body.append(upload_data, *upload_size);
      *upload_size = 0;
      return MHD_YES;
    }
    if (c->ready) return self->send(c, c->status, c->response);
    return self->dispatch(c);
  }

  static void completed_cb(void* cls, MHD_Connection*, void** con_cls, MHD_RequestTerminationCode) {
    auto* self = static_cast<Server*>(cls);
    auto* c = static_cast<Conn*>(*con_cls);
    if (!c) return;
    for (auto* m : {&self->waiters_, &self->followers_})
      for (auto it = m->begin(); it != m->end();)
        it = it->second == c ? m->erase(it) : std::next(it);
    std::erase(self->awaiting_commit_, c);
    delete c;
    *con_cls = nullptr;
  }

  MHD_Result send(Conn* c, int status, const std::string& body,
                  const char* type = "application/json") {
    MHD_Response* r = MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()),
                                                      MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    if (status != MHD_HTTP_NO_CONTENT) MHD_add_response_header(r, "Content-Type", type);
    for (const auto& [k, v] : c->headers) MHD_add_response_header(r, k.c_str(), v.c_str());
    MHD_Result ret = MHD_queue_response(c->connection, static_cast<unsigned>(status), r);
    MHD_destroy_response(r);
    return ret;
  }

  MHD_Result fail(Conn* c, const Error& e) {
    int status = http_status(e);
    if (status == MHD_HTTP_TOO_MANY_REQUESTS) c->headers["Retry-After"] = "1";
    return send(c, status, error_json(e.message()));
  }

  // Answers after the loop's next commit.
  MHD_Result after_commit(Conn* c, int status, std::string body) {
    c->status = status;
    c->response = std::move(body);
    suspend(c);
    awaiting_commit_.push_back(c);
    return MHD_YES;
  }

  void suspend(Conn* c) {
    MHD_suspend_connection(c->connection);
    c->suspended = true;
  }

  void resume(Conn* c, int status, std::string body) {
    c->ready = true;
    c->status = status;
    c->response = std::move(body);
    if (c->suspended) {
      c->suspended = false;
      MHD_resume_connection(c->connection);
    }
  }

  void wake(std::multimap<std::string, Conn*>& m, const std::string& id) {
    auto range = m.equal_range(id);
    std::vector<Conn*> conns;
    for (auto it = range.first; it != range.second; ++it) conns.push_back(it->second);
    m.erase(range.first, range.second);
    for (Conn* c : conns) {
      if (&m == &waiters_) {
        auto t = orch_.get(id);
        if (t)
          resume(c, 200, orchestrator::task_to_json(*t));
        else
          resume(c, http_status(t.error()), error_json(t.error().message()));
      } else if (c->suspended) {
        c->suspended = false;
        MHD_resume_connection(c->connection);
      }
    }
  }

  std::string arg(Conn* c, const char* name) {
    const char* v = MHD_lookup_connection_value(c->connection, MHD_GET_ARGUMENT_KIND, name);
    return v ? v : "";
  }

  MHD_Result dispatch(Conn* c) {
    if (c->too_large)
      return fail(c, orchestrator::with_code(
                         make_error("read", "request body", "larger than 1 MiB"), E2BIG));
    const std::string& u = c->url;
    const std::string& m = c->method;
    if (metrics_only_ && u != "/metrics") {
      // The live page (web/, embedded at build time) and its assets; nothing of the API.
      if (m != "GET") return method_not_allowed(c, "GET");
      if (u == "/" || u == "/index.html")
        return send(c, 200, web::kIndexHtml, "text/html; charset=utf-8");
      if (u == "/app.js") return send(c, 200, web::kAppJs, "text/javascript; charset=utf-8");
      if (u == "/chart.js") {
        if (web::kChartJs[0] == '\0')
          return send(
              c, 503,
              "/* the chart library was not built: run scripts/setup.sh (npm ci in web/) */",
              "text/javascript; charset=utf-8");
        return send(c, 200, web::kChartJs, "text/javascript; charset=utf-8");
      }
      return send(c, 404, error_json("this listener serves the page and GET /metrics only"));
    }
    if (u == "/v1/health" && m == "GET") {
      auto h = orch_.health();
      return send(c, h.healthy ? 200 : 503, h.json);
    }
    if (u == "/v1/volumes" && m == "GET") return send(c, 200, orch_.volumes_json());
    if (u == "/metrics") {
      if (m != "GET") return method_not_allowed(c, "GET");
      return send(c, 200, orch_.metrics_text(), "text/plain; version=0.0.4; charset=utf-8");
    }
    if (u == "/v1/tasks") {
      if (m == "POST") return submit(c);
      if (m == "GET") return list(c);
      return method_not_allowed(c, "GET, POST");
    }
    const std::string prefix = "/v1/tasks/";
    if (u.rfind(prefix, 0) != 0)
      return send(c, 404, error_json("no such endpoint: " + m + " " + u));
    std::string rest = u.substr(prefix.size());
    size_t slash = rest.find('/');
    std::string id = rest.substr(0, slash);
    std::string verb = slash == std::string::npos ? "" : rest.substr(slash + 1);
    if (verb.empty()) {
      if (m == "GET") {
        auto t = orch_.get(id);
        if (!t) return fail(c, t.error());
        return send(c, 200, orchestrator::task_to_json(*t));
      }
      if (m == "DELETE") {
        auto r = orch_.remove(id, arg(c, "force") == "1" || arg(c, "force") == "true");
        if (!r) return fail(c, r.error());
        return after_commit(c, MHD_HTTP_NO_CONTENT, "");
      }
      return method_not_allowed(c, "GET, DELETE");
    }
    if (verb == "wait") {
      if (m != "GET") return method_not_allowed(c, "GET");
      return wait(c, id);
    }
    if (verb == "logs") {
      if (m != "GET") return method_not_allowed(c, "GET");
      return logs(c, id);
    }
    if (verb == "stats") {
      if (m != "GET") return method_not_allowed(c, "GET");
      auto s = orch_.stats_json(id);
      if (!s) return fail(c, s.error());
      return send(c, 200, *s);
    }
    if (verb == "kill") {
      if (m != "POST") return method_not_allowed(c, "POST");
      return kill(c, id);
    }
    if (verb == "attach") {
      if (m != "POST") return method_not_allowed(c, "POST");
      return attach(c, id);
    }
    return send(c, 404, error_json("no such endpoint: " + m + " " + u));
  }

  MHD_Result method_not_allowed(Conn* c, const char* allowed) {
    c->headers["Allow"] = allowed;
    return send(c, 405, error_json(c->method + " is not allowed on " + c->url));
  }

  MHD_Result submit(Conn* c) {
    auto r = orch_.submit(c->body);
    if (!r) return fail(c, r.error());
    return after_commit(c, r->created ? 201 : 200, orchestrator::task_to_json(r->task));
  }

  MHD_Result list(Conn* c) {
    std::optional<orchestrator::TaskState> state;
    std::string s = arg(c, "state");
    if (!s.empty()) {
      state = orchestrator::parse_state(s);
      if (!state)
        return send(c, 400,
                    error_json("state: expected one of queued, admitted, created, "
                               "started, exited, reaped"));
    }
    size_t limit = 0;
    std::string l = arg(c, "limit");
    if (!l.empty()) {
      char* end = nullptr;
      long n = strtol(l.c_str(), &end, 10);
      if (*end || n < 0) return send(c, 400, error_json("limit: expected a count"));
      limit = static_cast<size_t>(n);
    }
    auto tasks = orch_.list(state, arg(c, "agent"), limit);
    if (!tasks) return fail(c, tasks.error());
    std::string out = "{\"tasks\":[";
    for (size_t i = 0; i < tasks->size(); ++i) {
      if (i) out += ",";
      out += orchestrator::task_to_json((*tasks)[i]);
    }
    out += "]}";
    return send(c, 200, out);
  }

  MHD_Result wait(Conn* c, const std::string& id) {
    auto t = orch_.get(id);
    if (!t) return fail(c, t.error());
    if (t->result && orchestrator::is_final(t->state))
      return send(c, 200, orchestrator::task_to_json(*t));
    std::string timeout = arg(c, "timeout");
    if (!timeout.empty()) {
      char* end = nullptr;
      double secs = strtod(timeout.c_str(), &end);
      if (*end || secs < 0) return send(c, 400, error_json("timeout: expected seconds"));
      c->wait_deadline =
          Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(secs * 1000));
    }
    c->task_id = id;
    suspend(c);
    waiters_.emplace(id, c);
    return MHD_YES;
  }

  MHD_Result kill(Conn* c, const std::string& id) {
    int sig = SIGKILL;
    if (!c->body.empty()) {
      nlohmann::json doc;
      try {
        doc = nlohmann::json::parse(c->body);
      } catch (const nlohmann::json::exception& e) {
        return send(c, 400, error_json(std::string("request body: not valid JSON: ") + e.what()));
      }
      if (!doc.is_object()) return send(c, 400, error_json("request body: expected an object"));
      for (const auto& [k, v] : doc.items()) {
        if (k != "signal") return send(c, 400, error_json(k + ": unknown field"));
        std::string why;
        sig = parse_signal(v, why);
        if (!sig) return send(c, 400, error_json(why));
      }
    }
    auto t = orch_.kill(id, sig, "operator");
    if (!t) return fail(c, t.error());
    return after_commit(c, 202, orchestrator::task_to_json(*t));
  }

  static ssize_t read_log_cb(void* cls, uint64_t pos, char* buf, size_t max) {
    auto* c = static_cast<Conn*>(cls);
    return c->server->read_log(c, pos, buf, max);
  }

  ssize_t read_log(Conn* c, uint64_t pos, char* buf, size_t max) {
    if (pos < c->log_cap) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(max, c->log_cap - pos));
      ssize_t n = pread(c->log_fd.get(), buf, want, static_cast<off_t>(pos));
      if (n > 0) return n;
    }
    auto t = orch_.get(c->task_id);
    if (!t || orchestrator::is_final(t->state)) {
      // One more read after the end: output written just before the exit.
      if (pos < c->log_cap) {
        size_t want = static_cast<size_t>(std::min<uint64_t>(max, c->log_cap - pos));
        ssize_t n = pread(c->log_fd.get(), buf, want, static_cast<off_t>(pos));
        if (n > 0) return n;
      }
      return MHD_CONTENT_READER_END_OF_STREAM;
    }
    MHD_suspend_connection(c->connection);
    c->suspended = true;
    followers_.emplace(c->task_id, c);
    return 0;
  }

  MHD_Result logs(Conn* c, const std::string& id) {
    auto t = orch_.get(id);
    if (!t) return fail(c, t.error());
    std::string stream = arg(c, "stream");
    if (stream.empty()) stream = "stdout";
    if (stream != "stdout" && stream != "stderr")
      return send(c, 400, error_json("stream: expected stdout or stderr"));
    bool err = stream == "stderr";
    std::string path = orch_.log_path(id, err);
    bool follow = arg(c, "follow") == "1" || arg(c, "follow") == "true";
    if (orch_.log_truncated(id, err)) c->headers["X-Clawcage-Truncated"] = "true";
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT) return fail(c, system_error("open", path));
    if (!follow) {
      std::string data;
      if (fd >= 0) {
        UniqueFd f(fd);
        auto all = read_fd(f.get());
        if (!all) return fail(c, all.error());
        data = std::move(*all);
        if (data.size() > orch_.log_cap()) data.resize(orch_.log_cap());
      }
      return send(c, 200, data, "application/octet-stream");
    }
    if (fd < 0) {
      // Not spawned yet: the file appears with the sandbox.
      fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
      if (fd < 0) return fail(c, system_error("open", path));
    }
    c->log_fd.reset(fd);
    c->log_cap = orch_.log_cap();
    c->task_id = id;
    c->server = this;
    MHD_Response* r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024,
                                                        &Server::read_log_cb, c, nullptr);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/octet-stream");
    for (const auto& [k, v] : c->headers) MHD_add_response_header(r, k.c_str(), v.c_str());
    MHD_Result ret = MHD_queue_response(c->connection, 200, r);
    MHD_destroy_response(r);
    return ret;
  }

  MHD_Result attach(Conn* c, const std::string& id) {
    auto t = orch_.get(id);
    if (!t) return fail(c, t.error());
    const char* upgrade =
        MHD_lookup_connection_value(c->connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_UPGRADE);
    if (!upgrade)
      return send(c, 400, error_json("attach needs \"Connection: Upgrade\" and \"Upgrade: tcp\""));
    std::string in = arg(c, "stdin");
    c->task_id = id;
    c->attach_stdin = in.empty() || in == "1" || in == "true";
    MHD_Response* r = MHD_create_response_for_upgrade(&Server::upgraded_cb, this);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_UPGRADE, "tcp");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "Upgrade");
    MHD_Result ret = MHD_queue_response(c->connection, MHD_HTTP_SWITCHING_PROTOCOLS, r);
    MHD_destroy_response(r);
    return ret;
  }

  static void upgraded_cb(void* cls, MHD_Connection*, void* con_cls, const char* extra,
                          size_t extra_size, MHD_socket sock, MHD_UpgradeResponseHandle* urh) {
    auto* self = static_cast<Server*>(cls);
    auto* c = static_cast<Conn*>(con_cls);
    auto a = std::make_unique<AttachSession>();
    a->task_id = c->task_id;
    a->sock = sock;
    a->urh = urh;
    a->stdin_enabled = c->attach_stdin;
    fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
    for (int i = 0; i < 2; ++i) {
      std::string path = self->orch_.log_path(a->task_id, i == 1);
      a->logs[i].reset(::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0600));
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = sock;
    epoll_ctl(self->loop_epoll_, EPOLL_CTL_ADD, sock, &ev);
    AttachSession& ref = *a;
    self->sessions_[sock] = std::move(a);
    if (extra_size && ref.stdin_enabled) {
      auto w = self->orch_.stdin_write(ref.task_id, std::string_view(extra, extra_size));
      if (!w) ref.stdin_enabled = false;
    }
    auto t = self->orch_.get(ref.task_id);
    ref.task_done = !t || orchestrator::is_final(t->state);
    self->pump(ref);
    if (ref.task_done && ref.out.empty()) self->close_session(ref);
  }

  template <class F>
  void for_sessions(const std::string& id, F f) {
    for (auto& [fd, a] : sessions_)
      if (a->task_id == id && a->sock >= 0) f(*a);
    std::erase_if(sessions_, [](const auto& kv) { return kv.second->sock < 0; });
  }

  void set_reading(AttachSession& a, bool reading) {
    a.reading = reading;
    epoll_event ev{};
    ev.events = 0;
    if (reading) ev.events |= EPOLLIN | EPOLLRDHUP;
    if (!a.out.empty()) ev.events |= EPOLLOUT;
    ev.data.fd = a.sock;
    epoll_ctl(loop_epoll_, EPOLL_CTL_MOD, a.sock, &ev);
  }

  void read_client(AttachSession& a) {
    char buf[65536];
    for (int i = 0; i < 16; ++i) {
      ssize_t n = ::read(a.sock, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0) {
        // The client ended its input (or left): EOF to the task's stdin.
        if (a.stdin_enabled) orch_.stdin_close(a.task_id);
        a.stdin_enabled = false;
        set_reading(a, false);
        if (n < 0) close_session(a);
        return;
      }
      if (!a.stdin_enabled) continue;
      auto w = orch_.stdin_write(a.task_id, std::string_view(buf, static_cast<size_t>(n)));
      if (!w) {
        a.stdin_enabled = false;
        continue;
      }
      if (*w > (1u << 20)) {
        // The task reads slower than the client writes: stop reading until it drains.
        set_reading(a, false);
        return;
      }
    }
  }

  // Frames whatever the logs gained and writes as much as the socket takes.
  void pump(AttachSession& a) {
    if (a.sock < 0) return;
    uint64_t cap = orch_.log_cap();
    while (a.out.size() < (4u << 20)) {
      bool got = false;
      for (int i = 0; i < 2; ++i) {
        if (a.pos[i] >= cap) continue;
        char buf[65536];
        size_t want = static_cast<size_t>(std::min<uint64_t>(sizeof buf, cap - a.pos[i]));
        ssize_t n = pread(a.logs[i].get(), buf, want, static_cast<off_t>(a.pos[i]));
        if (n <= 0) continue;
        got = true;
        a.pos[i] += static_cast<uint64_t>(n);
        uint32_t len = static_cast<uint32_t>(n);
        char head[8] = {static_cast<char>(i + 1),
                        0,
                        0,
                        0,
                        static_cast<char>(len >> 24),
                        static_cast<char>(len >> 16),
                        static_cast<char>(len >> 8),
                        static_cast<char>(len)};
        a.out.append(head, 8);
        a.out.append(buf, static_cast<size_t>(n));
      }
      if (!got) break;
    }
    while (!a.out.empty()) {
      ssize_t n = ::send(a.sock, a.out.data(), a.out.size(), MSG_NOSIGNAL);
      if (n > 0) {
        a.out.erase(0, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) break;
      if (a.stdin_enabled) orch_.stdin_close(a.task_id);
      close_session(a);
      return;
    }
    set_reading(a, a.reading);
    if (a.task_done && a.out.empty()) close_session(a);
  }

  void close_session(AttachSession& a) {
    if (a.sock < 0) return;
    epoll_ctl(loop_epoll_, EPOLL_CTL_DEL, a.sock, nullptr);
    MHD_upgrade_action(a.urh, MHD_UPGRADE_ACTION_CLOSE);
    a.sock = -1;
  }

  Orchestrator& orch_;
  bool metrics_only_ = false;
  int loop_epoll_ = -1;
  std::map<int, std::unique_ptr<AttachSession>> sessions_;
  MHD_Daemon* mhd_ = nullptr;
  int epoll_fd_ = -1;
  std::vector<Conn*> awaiting_commit_;
  std::multimap<std::string, Conn*> waiters_, followers_;
};

Result<UniqueFd> listen_unix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return invalid_field("socket", path + " is too long");
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  TRY(make_dirs(path.substr(0, path.find_last_of('/')), 0755));
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return system_error("socket", path);
  // A socket file nobody answers on is a stale one from a killed daemon.
  {
    UniqueFd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
      return make_error("listen", path, "another daemon is serving this socket");
    if (errno == ECONNREFUSED) ::unlink(path.c_str());
  }
  mode_t old = umask(0117);
  int b = bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  umask(old);
  if (b != 0) return system_error("bind", path);
  if (chmod(path.c_str(), 0660) != 0) return system_error("chmod", path);
  if (listen(fd.get(), 4096) != 0) return system_error("listen", path);
  return fd;
}

// "ADDRESS:PORT" (IPv4, or [IPv6]:PORT) for the metrics listener.
Result<UniqueFd> listen_tcp(const std::string& where) {
  size_t colon = where.rfind(':');
  if (colon == std::string::npos || colon + 1 >= where.size())
    return invalid_field("metrics_listen", "expected ADDRESS:PORT, got \"" + where + "\"");
  std::string host = where.substr(0, colon), port = where.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || !res)
    return invalid_field("metrics_listen",
                         "expected a numeric ADDRESS:PORT, got \"" + where + "\"");
  UniqueFd fd(socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  int one = 1;
  bool bound = fd && setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
               bind(fd.get(), res->ai_addr, res->ai_addrlen) == 0;
  freeaddrinfo(res);
  if (!bound) return system_error("bind", "metrics_listen " + where);
  if (listen(fd.get(), 128) != 0) return system_error("listen", "metrics_listen " + where);
  return fd;
}

}  // namespace

Result<int> run_daemon(orchestrator::DaemonConfig config) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  UniqueFd sfd(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!sfd) return system_error("signalfd", "SIGTERM");
  std::string socket_path = config.socket;
  TRY_ASSIGN(auto orch, Orchestrator::open(std::move(config)));
  TRY_ASSIGN(UniqueFd listen_fd, listen_unix(socket_path));
  UniqueFd ep(epoll_create1(EPOLL_CLOEXEC));
  if (!ep) return system_error("epoll_create1", "daemon");
  Server server(*orch);
  TRY(server.start(listen_fd.get(), ep.get()));
  std::vector<int> watched = {server.epoll_fd(), orch->poll_fd(), sfd.get()};
  std::optional<Server> metrics_server;
  UniqueFd metrics_fd;
  if (!orch->config().metrics_listen.empty()) {
    TRY_ASSIGN(metrics_fd, listen_tcp(orch->config().metrics_listen));
    metrics_server.emplace(*orch, true);
    TRY(metrics_server->start(metrics_fd.get(), ep.get()));
    watched.push_back(metrics_server->epoll_fd());
    fprintf(stderr, "clawcage daemon: metrics on http://%s/metrics\n",
            orch->config().metrics_listen.c_str());
  }
  for (int fd : watched) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd, &ev) != 0)
      return system_error("epoll_ctl", "daemon");
  }
  fprintf(stderr, "clawcage daemon: serving %s\n", socket_path.c_str());
  bool stop = false;
  while (!stop) {
    int timeout = orch->has_runnable_work() ? 0 : server.timeout_ms();
    if (server.has_waits_with_deadline()) timeout = std::min(timeout, 100);
    epoll_event events[16];
    int n = epoll_wait(ep.get(), events, 16, timeout);
    if (n < 0 && errno != EINTR) return system_error("epoll_wait", "daemon");
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == sfd.get()) {
        signalfd_siginfo info;
        while (::read(fd, &info, sizeof info) == sizeof info) stop = true;
      } else if (fd == orch->poll_fd()) {
        orch->process();
      } else if (metrics_server && fd == metrics_server->epoll_fd()) {
        // served by run() below
      } else {
        server.on_socket(fd, events[i].events);
      }
    }
    server.run();
    server.expire_waits();
    auto c = orch->commit();
    server.committed(c.ok(), c ? "" : c.error().message());
    orch->spawn_turn();
    server.run();
    if (metrics_server) metrics_server->run();
  }
  fprintf(stderr, "clawcage daemon: stopping; running tasks stay and are re-adopted on start\n");
  server.stop();
  if (metrics_server) metrics_server->stop();
  (void)orch->commit();
  listen_fd.reset();
  ::unlink(socket_path.c_str());
  return 0;
}

}  // namespace clawcage::api
