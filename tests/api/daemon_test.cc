// `clawcage daemon` end to end: a real daemon per test (its own socket, dirs and cgroup
// parent, see support/daemon_process.h), driven through its HTTP API (docs/api.md) and the
// client verbs. The API contract (refusals create nothing; idempotent ids), a task's life
// (exit codes, logs, outputs, kill, deadline, OOM, cancel, volumes, stdin, follow, log cap),
// restart reconciliation (kill -9, crash points, orphans), concurrency and fair queueing,
// health. Every test ends with nothing of its daemon left in the kernel.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "api/client.h"
#include "orchestrator/metrics.h"
#include "support/daemon_process.h"
#include "support/oci_layout_builder.h"
#include "support/real_images.h"
#include "support/run_clawcage.h"

namespace clawcage::test {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------
// Helpers

json parse(const std::string& text) {
  return json::parse(text, nullptr, /*allow_exceptions=*/false);
}

std::vector<std::string> sh(const std::string& script) {
  return {"/bin/sh", "-c", script};
}

// Calls done() every interval_ms until it is true or timeout_ms passed; its last answer.
bool poll_until(const std::function<bool()>& done, int timeout_ms, int interval_ms = 20) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (int i = 0; i <= timeout_ms / interval_ms; ++i) {
    if (done()) return true;
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
  }
  return done();
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

uint64_t file_size(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

std::string cause_of(const json& task) {
  if (!task.is_object() || !task.contains("result") || !task["result"].is_object()) return "";
  return task["result"].value("cause", "");
}

bool is_final_state(const json& task) {
  if (!task.is_object()) return false;
  std::string s = task.value("state", "");
  return s == "exited" || s == "reaped";
}

// One HTTP exchange: status 0 and `error` when there was no answer at all.
struct Answer {
  long status = 0;
  std::string text;
  json body;
  std::map<std::string, std::string> headers;
  std::string error;
  std::string describe() const {
    return error.empty() ? "HTTP " + std::to_string(status) + ": " + text : "no answer: " + error;
  }
};

// The daemon's API with the checks every test needs.
class Api {
 public:
  explicit Api(const DaemonProcess& d) : client_(d.socket_path()) {}

  Answer call(const std::string& method, const std::string& path, const std::string& body = "") {
    Answer a;
    auto r = client_.request(method, path, body);
    if (!r) {
      a.error = r.error().message();
      return a;
    }
    a.status = r->status;
    a.text = r->body;
    a.body = parse(r->body);
    a.headers = r->headers;
    return a;
  }

  // POST /v1/tasks expecting 201: the task, or null (and a failure).
  json submit(const json& request) {
    Answer a = call("POST", "/v1/tasks", request.dump());
    if (a.status != 201 || !a.body.is_object()) {
      ADD_FAILURE() << "submit " << request.dump() << ": " << a.describe();
      return nullptr;
    }
    return a.body;
  }

  // GET /v1/tasks/{id}: the task, or null when there is none (or no answer).
  json get(const std::string& id) {
    Answer a = call("GET", "/v1/tasks/" + api::url_escape(id));
    if (a.status == 200 && a.body.is_object()) return a.body;
    if (a.status != 404) ADD_FAILURE() << "GET task " << id << ": " << a.describe();
    return nullptr;
  }

  // The task once it has its result (bounded by the daemon's wait timeout), or null and a
  // failure.
  json wait(const std::string& id, int timeout_s = 30) {
    Answer a = call(
        "GET", "/v1/tasks/" + api::url_escape(id) + "/wait?timeout=" + std::to_string(timeout_s));
    if (a.status != 200 || !a.body.is_object()) {
      ADD_FAILURE() << "waiting for task " << id << ": " << a.describe()
                    << "\n  task now: " << get(id).dump();
      return nullptr;
    }
    return a.body;
  }

  std::vector<json> list(const std::string& query = "") {
    Answer a = call("GET", "/v1/tasks" + query);
    if (a.status != 200 || !a.body.is_object() || !a.body.contains("tasks") ||
        !a.body["tasks"].is_array()) {
      ADD_FAILURE() << "GET /v1/tasks" << query << ": " << a.describe();
      return {};
    }
    return a.body["tasks"].get<std::vector<json>>();
  }

  std::string logs(const std::string& id, const std::string& stream = "stdout") {
    Answer a = call("GET", "/v1/tasks/" + api::url_escape(id) + "/logs?stream=" + stream);
    if (a.status != 200) ADD_FAILURE() << "logs of " << id << ": " << a.describe();
    return a.text;
  }

  // Polls until the task's payload was released (started_at set), bounded.
  bool wait_started(const std::string& id, int timeout_ms = 10000) {
    return poll_until(
        [&] {
          json t = get(id);
          return t.is_object() && t.value("started_at", 0.0) > 0;
        },
        timeout_ms);
  }

  api::Client& client() { return client_; }

 private:
  api::Client client_;
};

void expect_no_leftovers(DaemonProcess& d, int timeout_ms = 5000) {
  std::vector<std::string> left;
  poll_until(
      [&] {
        left = d.leftovers();
        return left.empty();
      },
      timeout_ms);
  EXPECT_TRUE(left.empty()) << "left in the kernel by daemon " << d.cgroup_parent() << ":\n  "
                            << join_lines(left);
}

// A log follow (or any GET) streamed on a thread of its own, bounded: when it does not end
// within timeout_ms the daemon is killed, which drops the connection and frees the client.
struct Streamed {
  bool ended = false;
  long status = 0;
  std::string error, body;
  std::map<std::string, std::string> headers;
};

Streamed stream_bounded(DaemonProcess& d, const std::string& path, int timeout_ms) {
  auto out = std::make_shared<Streamed>();
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> finished = done->get_future();
  std::string socket = d.socket_path();
  std::thread reader([out, done, socket, path] {
    api::Client c(socket);
    auto r = c.stream(
        path,
        [&](std::string_view data) {
          out->body.append(data);
          return true;
        },
        &out->headers);
    if (r)
      out->status = *r;
    else
      out->error = r.error().message();
    done->set_value();
  });
  bool ended =
      finished.wait_for(std::chrono::milliseconds(timeout_ms)) == std::future_status::ready;
  if (!ended) d.kill9();
  reader.join();
  out->ended = ended;
  return *out;
}

// ---------------------------------------------------------------------------------------
// DaemonApi: the request contract. Every refusal is a 4xx with {"error": ...} naming the
// field, and leaves no task, no cgroup and no state dir behind.

class DaemonApi : public ::testing::Test {
 protected:
  void SetUp() override {
    shared_ = daemon_.root() + "/vol-shared";
    mine_ = daemon_.root() + "/vol-mine";
    data_ = daemon_.root() + "/vol-data";
    for (const auto& dir : {shared_, mine_, data_}) {
      std::filesystem::create_directories(dir);
      chmod(dir.c_str(), 0777);
    }
    daemon_.extra_args = {"--volume", "in=" + shared_ + ":shared",
                          "--volume", "mine=" + mine_ + ":agent=alice",
                          "--volume", "data=" + data_};
    ASSERT_TRUE(daemon_.start());
  }

  void TearDown() override { expect_no_leftovers(daemon_); }

  void expect_refused(const std::string& body, long status, const std::string& needle) {
    SCOPED_TRACE("request: " + body.substr(0, 200));
    Api api(daemon_);
    size_t before = api.list().size();
    Answer a = api.call("POST", "/v1/tasks", body);
    EXPECT_EQ(a.status, status) << a.describe();
    ASSERT_TRUE(a.body.is_object()) << "the error body is not a JSON object: " << a.describe();
    ASSERT_TRUE(a.body.contains("error") && a.body["error"].is_string()) << a.describe();
    std::string message = a.body["error"].get<std::string>();
    EXPECT_NE(message.find(needle), std::string::npos)
        << "the error should mention \"" << needle << "\": " << message;
    EXPECT_EQ(a.headers["content-type"], "application/json");
    // Nothing was created: no task, and (the daemon spawns in the turn that answered) no
    // sandbox, no state dir.
    EXPECT_EQ(api.list().size(), before);
    EXPECT_EQ(join_lines(daemon_.leftovers()), "");
    EXPECT_TRUE(std::filesystem::is_empty(daemon_.data_dir() + "/stdin"));
  }

  std::string valid_command() const { return R"("command":["/bin/true"])"; }

  DaemonProcess daemon_;
  std::string shared_, mine_, data_;
};

TEST_F(DaemonApi, BadJsonIs400) {
  expect_refused(R"({"command": ["/bin/true"])", 400, "JSON");
  expect_refused(R"(["/bin/true"])", 400, "request body");
}

TEST_F(DaemonApi, UnknownFieldIs400NamingIt) {
  expect_refused(R"({"command":["/bin/true"],"colour":"blue"})", 400, "colour");
  expect_refused(R"({"command":["/bin/true"],"volumes":[{"name":"in","target":"/in","rw":1}]})",
                 400, "volumes[0].rw");
}

TEST_F(DaemonApi, MissingCommandIs400) {
  expect_refused(R"({"agent":"a"})", 400, "command");
  expect_refused(R"({"command":[]})", 400, "command");
}

TEST_F(DaemonApi, BodyOverOneMiBIs413) {
  std::string big(1100 * 1024, 'x');
  expect_refused(R"({"command":["/bin/true"],"env":["A=)" + big + R"("]})", 413, "1 MiB");
}

TEST_F(DaemonApi, MissingImageIs404) {
  expect_refused(R"({"image":"nope:latest",)" + valid_command() + "}", 404, "image");
}

TEST_F(DaemonApi, UnknownVolumeIs404) {
  expect_refused(R"({"volumes":[{"name":"nope","target":"/in"}],)" + valid_command() + "}", 404,
                 "volumes[0].name");
}

TEST_F(DaemonApi, SharedVolumeAskedReadWriteIs400) {
  expect_refused(
      R"({"volumes":[{"name":"in","target":"/in","mode":"rw"}],)" + valid_command() + "}", 400,
      "read-only");
}

TEST_F(DaemonApi, AgentVolumeOfAnotherAgentIs403) {
  expect_refused(R"({"agent":"bob","volumes":[{"name":"mine","target":"/in","mode":"rw"}],)" +
                     valid_command() + "}",
                 403, "volumes[0].name");
  // Its owner may mount it.
  Api api(daemon_);
  json t = api.submit({{"agent", "alice"},
                       {"volumes", {{{"name", "mine"}, {"target", "/in"}, {"mode", "rw"}}}},
                       {"command", sh("echo mine > /in/f")}});
  ASSERT_FALSE(t.is_null());
  json done = api.wait(t["id"]);
  EXPECT_EQ(cause_of(done), "exited") << done.dump();
  EXPECT_EQ(read_text(mine_ + "/f"), "mine\n");
}

TEST_F(DaemonApi, DeadlineOverTheMaximumIs400) {
  expect_refused(R"({"deadline":"100h",)" + valid_command() + "}", 400, "deadline");
  expect_refused(R"({"deadline":"soon",)" + valid_command() + "}", 400, "deadline");
  // The maximum itself is allowed (the default maximum is 24h).
  Api api(daemon_);
  json t = api.submit({{"deadline", "24h"}, {"command", {"/bin/true"}}});
  ASSERT_FALSE(t.is_null());
  EXPECT_EQ(cause_of(api.wait(t["id"])), "exited");
}

TEST_F(DaemonApi, BadTierIs400) {
  expect_refused(R"({"tier":"paranoid",)" + valid_command() + "}", 400, "tier");
}

TEST_F(DaemonApi, BadIdIs400) {
  expect_refused(R"({"id":"../etc",)" + valid_command() + "}", 400, "id");
  expect_refused(R"({"id":"",)" + valid_command() + "}", 400, "id");
  expect_refused(R"({"id":")" + std::string(65, 'a') + R"(",)" + valid_command() + "}", 400, "id");
  expect_refused(R"({"id":7,)" + valid_command() + "}", 400, "id");
}

TEST_F(DaemonApi, UnknownTaskIs404) {
  Api api(daemon_);
  for (const auto& [method, path] :
       std::vector<std::pair<std::string, std::string>>{{"GET", "/v1/tasks/nope"},
                                                        {"GET", "/v1/tasks/nope/wait?timeout=1"},
                                                        {"GET", "/v1/tasks/nope/logs"},
                                                        {"POST", "/v1/tasks/nope/kill"},
                                                        {"DELETE", "/v1/tasks/nope"}}) {
    Answer a = api.call(method, path);
    EXPECT_EQ(a.status, 404) << method << " " << path << ": " << a.describe();
    EXPECT_TRUE(a.body.is_object() && a.body.contains("error")) << a.describe();
  }
}

TEST_F(DaemonApi, UnknownEndpointAndMethod) {
  Api api(daemon_);
  Answer a = api.call("GET", "/v1/nope");
  EXPECT_EQ(a.status, 404) << a.describe();
  EXPECT_TRUE(a.body.is_object() && a.body.contains("error")) << a.describe();
  Answer m = api.call("PUT", "/v1/tasks", R"({"command":["/bin/true"]})");
  EXPECT_EQ(m.status, 405) << m.describe();
  EXPECT_EQ(m.headers["allow"], "GET, POST");
  EXPECT_TRUE(m.body.is_object() && m.body.contains("error")) << m.describe();
  EXPECT_TRUE(api.list().empty());
}

// A user that is not UID[:GID] can never run: the request is bad, like an unknown field.
// (Regression: it was once queued with 201 and failed at spawn.)
TEST_F(DaemonApi, MalformedUserIs400) {
  expect_refused(R"({"user":"nosuchuser",)" + valid_command() + "}", 400, "user");
}

TEST_F(DaemonApi, ListFiltersAndOrder) {
  Api api(daemon_);
  for (const auto& [id, agent] :
       std::vector<std::pair<std::string, std::string>>{{"a1", "a"}, {"b1", "b"}, {"a2", "a"}}) {
    ASSERT_FALSE(api.submit({{"id", id}, {"agent", agent}, {"command", {"/bin/true"}}}).is_null());
    EXPECT_EQ(cause_of(api.wait(id)), "exited");
  }
  auto ids = [](const std::vector<json>& tasks) {
    std::vector<std::string> out;
    for (const auto& t : tasks) out.push_back(t.value("id", ""));
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids(api.list()), (V{"a2", "b1", "a1"}));  // newest first
  EXPECT_EQ(ids(api.list("?agent=a")), (V{"a2", "a1"}));
  EXPECT_EQ(ids(api.list("?limit=1")), (V{"a2"}));
  EXPECT_EQ(ids(api.list("?state=reaped&agent=b")), (V{"b1"}));
  EXPECT_TRUE(api.list("?state=queued").empty());
  EXPECT_EQ(api.call("GET", "/v1/tasks?state=bogus").status, 400);
  EXPECT_EQ(api.call("GET", "/v1/tasks?limit=x").status, 400);
}

TEST_F(DaemonApi, WaitTimeoutIs408) {
  Api api(daemon_);
  ASSERT_FALSE(api.submit({{"id", "w1"}, {"command", {"/bin/sleep", "30"}}}).is_null());
  Answer a = api.call("GET", "/v1/tasks/w1/wait?timeout=0.2");
  EXPECT_EQ(a.status, 408) << a.describe();
  EXPECT_TRUE(a.body.is_object() && a.body.contains("error")) << a.describe();
  EXPECT_EQ(api.call("GET", "/v1/tasks/w1/wait?timeout=soon").status, 400);
  // A kill body that is not understood kills nothing.
  EXPECT_EQ(api.call("POST", "/v1/tasks/w1/kill", R"({"signal":"NOPE"})").status, 400);
  EXPECT_EQ(api.call("POST", "/v1/tasks/w1/kill", R"({"sig":"TERM"})").status, 400);
  EXPECT_EQ(api.call("POST", "/v1/tasks/w1/kill", "{").status, 400);
  json t = api.get("w1");
  EXPECT_TRUE(t["result"].is_null()) << t.dump();
  EXPECT_EQ(t["kill_requested_by"], "");
  EXPECT_EQ(api.call("POST", "/v1/tasks/w1/kill").status, 202);
  EXPECT_EQ(cause_of(api.wait("w1")), "killed");
}

TEST_F(DaemonApi, DuplicateIdIsIdempotent) {
  Api api(daemon_);
  // Each run of the task appends a line to a host file: at most one line may ever appear.
  json request = {{"id", "dup1"},
                  {"volumes", {{{"name", "data"}, {"target", "/work"}, {"mode", "rw"}}}},
                  {"command", sh("echo run >> /work/runs")}};
  Answer first = api.call("POST", "/v1/tasks", request.dump());
  ASSERT_EQ(first.status, 201) << first.describe();
  Answer second = api.call("POST", "/v1/tasks", request.dump());
  ASSERT_EQ(second.status, 200) << second.describe();
  EXPECT_EQ(second.body["id"], "dup1");
  EXPECT_EQ(second.body["seq"], first.body["seq"]);
  EXPECT_EQ(second.body["submitted_at"], first.body["submitted_at"]);

  json other = request;
  other["command"] = sh("echo other >> /work/runs");
  Answer conflict = api.call("POST", "/v1/tasks", other.dump());
  EXPECT_EQ(conflict.status, 409) << conflict.describe();
  ASSERT_TRUE(conflict.body.is_object() && conflict.body.contains("error")) << conflict.describe();
  EXPECT_NE(conflict.body["error"].get<std::string>().find("dup1"), std::string::npos)
      << conflict.describe();

  json done = api.wait("dup1");
  EXPECT_EQ(cause_of(done), "exited") << done.dump();
  // Once it ended, the same request still answers with the same task, and runs nothing.
  Answer third = api.call("POST", "/v1/tasks", request.dump());
  EXPECT_EQ(third.status, 200) << third.describe();
  EXPECT_EQ(third.body["seq"], first.body["seq"]);
  EXPECT_EQ(third.body["state"], "reaped") << third.describe();

  auto tasks = api.list();
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0]["id"], "dup1");
  // Give a (wrong) second run time to show up before counting.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(read_text(data_ + "/runs"), "run\n");
}

// The queue's bound: beyond max_queued waiting tasks, 429 with Retry-After, nothing created.
TEST(DaemonQueue, FullQueueIs429WithRetryAfter) {
  DaemonProcess d;
  d.write_config(R"({"max_queued": 1, "max_running": 1})");
  ASSERT_TRUE(d.start());
  Api api(d);
  ASSERT_FALSE(api.submit({{"id", "run1"}, {"command", {"/bin/sleep", "30"}}}).is_null());
  ASSERT_TRUE(api.wait_started("run1"));
  ASSERT_FALSE(api.submit({{"id", "q1"}, {"command", {"/bin/true"}}}).is_null());
  Answer full = api.call("POST", "/v1/tasks", R"({"id":"q2","command":["/bin/true"]})");
  EXPECT_EQ(full.status, 429) << full.describe();
  EXPECT_FALSE(full.headers["retry-after"].empty());
  ASSERT_TRUE(full.body.is_object() && full.body.contains("error")) << full.describe();
  EXPECT_NE(full.body["error"].get<std::string>().find("queue"), std::string::npos);
  EXPECT_TRUE(api.get("q2").is_null());
  EXPECT_EQ(api.list().size(), 2u);
  // A cancelled task frees its place.
  EXPECT_EQ(api.call("POST", "/v1/tasks/q1/kill").status, 202);
  EXPECT_FALSE(api.submit({{"id", "q3"}, {"command", {"/bin/true"}}}).is_null());
  EXPECT_EQ(api.call("POST", "/v1/tasks/run1/kill").status, 202);
  EXPECT_EQ(cause_of(api.wait("q3")), "exited");
  expect_no_leftovers(d);
}

// ---------------------------------------------------------------------------------------
// DaemonLifecycle: what a task does and how it ends.

TEST(DaemonLifecycle, ExitCodeLogsOutputThenRemove) {
  DaemonProcess d;
  ASSERT_TRUE(d.start());
  Api api(d);
  json t = api.submit(
      {{"id", "life1"}, {"command", sh("echo out; echo err >&2; echo data > /output/f; exit 3")}});
  ASSERT_FALSE(t.is_null());
  EXPECT_EQ(t["id"], "life1");
  EXPECT_EQ(t["agent"], "default");
  EXPECT_TRUE(t["result"].is_null());

  json done = api.wait("life1");
  ASSERT_TRUE(done.is_object());
  EXPECT_EQ(done["state"], "reaped");
  EXPECT_EQ(done["result"]["cause"], "exited") << done.dump();
  EXPECT_EQ(done["result"]["exit_code"], 3);
  EXPECT_EQ(done["result"]["signal"], 0);
  EXPECT_EQ(done["result"]["stdout_bytes"], 4);
  EXPECT_EQ(done["result"]["stderr_bytes"], 4);
  EXPECT_EQ(api.logs("life1"), "out\n");
  EXPECT_EQ(api.logs("life1", "stderr"), "err\n");
  std::string output = d.data_dir() + "/outputs/life1";
  EXPECT_EQ(read_text(output + "/f"), "data\n");

  Answer del = api.call("DELETE", "/v1/tasks/life1");
  EXPECT_EQ(del.status, 204) << del.describe();
  EXPECT_TRUE(api.get("life1").is_null());
  EXPECT_EQ(api.call("GET", "/v1/tasks/life1/logs").status, 404);
  EXPECT_EQ(api.call("DELETE", "/v1/tasks/life1").status, 404);
  EXPECT_FALSE(file_exists(d.data_dir() + "/logs/life1.stdout"));
  EXPECT_FALSE(file_exists(d.data_dir() + "/logs/life1.stderr"));
  EXPECT_FALSE(file_exists(output));
  EXPECT_TRUE(api.list().empty());
  expect_no_leftovers(d);
}

TEST(DaemonLifecycle, KillByOperator) {
  DaemonProcess d;
  ASSERT_TRUE(d.start());
  Api api(d);
  ASSERT_FALSE(api.submit({{"id", "k1"}, {"command", {"/bin/sleep", "30"}}}).is_null());
  ASSERT_TRUE(api.wait_started("k1"));
  // A live task is not removed without force.
  EXPECT_EQ(api.call("DELETE", "/v1/tasks/k1").status, 409);
  Answer k = api.call("POST", "/v1/tasks/k1/kill");
  EXPECT_EQ(k.status, 202) << k.describe();
  json done = api.wait("k1");
  ASSERT_TRUE(done.is_object());
  EXPECT_EQ(done["result"]["cause"], "killed") << done.dump();
  EXPECT_EQ(done["result"]["killed_by"], "operator");
  EXPECT_EQ(done["result"]["exit_code"], 137);
  EXPECT_EQ(done["kill_requested_by"], "operator");
  // An ended task cannot be killed again.
  EXPECT_EQ(api.call("POST", "/v1/tasks/k1/kill").status, 409);
  expect_no_leftovers(d);
}

TEST(DaemonLifecycle, DeadlineIsATimeout) {
  DaemonProcess d;
  ASSERT_TRUE(d.start());
  Api api(d);
  ASSERT_FALSE(
      api.submit({{"id", "dl1"}, {"deadline", "1s"}, {"command", {"/bin/sleep", "30"}}}).is_null());
  json done = api.wait("dl1");
  ASSERT_TRUE(done.is_object());
  EXPECT_EQ(done["result"]["cause"], "timeout") << done.dump();
  EXPECT_EQ(done["result"]["killed_by"], "deadline");
  expect_no_leftovers(d);
}

TEST(DaemonLifecycle, OutOfMemoryIsOomKilled) {
  DaemonProcess d;
  ASSERT_TRUE(d.start());
  Api api(d);
  // busybox sh doubles the string until the 32M limit's OOM killer ends it.
  ASSERT_FALSE(api.submit({{"id", "oom1"},
                           {"memory", "32M"},
                           {"command", sh("x=a; while true; do x=$x$x; done")}})
                   .is_null());
  json done = api.wait("oom1");
  ASSERT_TRUE(done.is_object());
  EXPECT_EQ(done["result"]["cause"], "oom_killed") << done.dump();
  EXPECT_GE(done["result"]["oom_kills"].get<int>(), 1);
  EXPECT_EQ(done["result"]["exit_code"], 137);
  expect_no_leftovers(d);
}

TEST(DaemonLifecycle, QueuedTaskCancelledNeverStarts) {
  DaemonProcess d;
  d.write_config(R"({"max_running": 1})");
  ASSERT_TRUE(d.start());
  Api api(d);
  ASSERT_FALSE(api.submit({{"id", "run1"}, {"command", {"/bin/sleep", "30"}}}).is_null());
  ASSERT_FALSE(api.submit({{"id", "q2"}, {"command", sh("echo ran")}}).is_null());
  ASSERT_TRUE(api.wait_started("run1"));
  EXPECT_EQ(api.get("q2")["state"], "queued");
  Answer k = api.call("POST", "/v1/tasks/q2/kill");
  EXPECT_EQ(k.status, 202) << k.describe();
  json done = api.wait("q2");
  ASSERT_TRUE(done.is_object());
  EXPECT_EQ(done["result"]["cause"], "killed") << done.dump();
  EXPECT_EQ(done["result"]["killed_by"], "operator");
  EXPECT_EQ(done["started_at"], 0.0) << done.dump();
  EXPECT_EQ(done["pid"], 0);
  EXPECT_TRUE(is_final_state(done));
  // The running one is unaffected; end it too.
  EXPECT_EQ(api.get("run1")["state"], "started");
  EXPECT_EQ(api.call("POST", "/v1/tasks/run1/kill").status, 202);
  EXPECT_EQ(cause_of(api.wait("run1")), "killed");
  EXPECT_EQ(api.logs("q2"), "");
  expect_no_leftovers(d);
}

TEST(DaemonLifecycle, SharedVolumeIsReadOnly) {
  DaemonProcess d;
  std::string dir = d.root() + "/vol-in";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/f") << "orig\n";
  d.extra_args = {"--volume", "in=" + dir + ":shared"};
  ASSERT_TRUE(d.start());
  Api api(d);
  json volumes = {{{"name", "in"}, {"target", "/in"}}};
  ASSERT_FALSE(api.submit({{"id", "w1"},
                           {"volumes", volumes},
                           {"command", sh("cat /in/f; echo changed > /in/f")}})
                   .is_null());
  ASSERT_FALSE(
      api.submit({{"id", "w2"}, {"volumes", volumes}, {"command", sh("touch /in/new")}}).is_null());
  for (const char* id : {"w1", "w2"}) {
    json done = api.wait(id);
    ASSERT_TRUE(done.is_object());
    EXPECT_EQ(done["result"]["cause"], "exited") << done.dump();
    EXPECT_NE(done["result"]["exit_code"], 0) << id << " could write to a shared volume";
  }
  EXPECT_EQ(api.logs("w1"), "orig\n");  // mounted, readable
  EXPECT_EQ(read_text(dir + "/f"), "orig\n");
  EXPECT_FALSE(file_exists(dir + "/new"));
  expect_no_leftovers(d);
}

TEST(DaemonLifecycle, KillWithTermLetsTheTaskHandleIt) {
  DaemonProcess d;
  ASSERT_TRUE(d.start());
  Api api(d);
  ASSERT_FALSE(api.submit({{"id", "t1"},
                           {"command", sh("trap 'echo bye; exit 7' TERM; echo ready; "
                                          "while true; do sleep 0.05; done")}})
                   .is_null());
  ASSERT_TRUE(poll_until([&] { return api.logs("t1") == "ready\n"; }, 10000));
  Answer k = api.call("POST", "/v1/tasks/t1/kill", R"({"signal":"TERM"})");
  EXPECT_EQ(k.status, 202) << k.describe();
  json done = api.wait("t1");
  ASSERT_TRUE(done.is_object());
  EXPECT_EQ(cause_of(done), "killed") << done.dump();
  EXPECT_EQ(done["result"]["killed_by"], "operator");
  EXPECT_EQ(done["result"]["exit_code"], 7) << done.dump();
  EXPECT_EQ(api.logs("t1"), "ready\nbye\n");
  expect_no_leftovers(d);
}

TEST(DaemonLifecycle, ForceRemoveQueuedAndRunningTasks) {
  DaemonProcess d;
  d.write_config(R"({"max_running": 1})");
  ASSERT_TRUE(d.start());
  Api api(d);
  ASSERT_FALSE(api.submit({{"id", "run1"}, {"command", {"/bin/sleep", "30"}}}).is_null());
  ASSERT_FALSE(api.submit({{"id", "q2"}, {"command", {"/bin/true"}}}).is_null());
  ASSERT_TRUE(api.wait_started("run1"));
  EXPECT_EQ(api.call("DELETE", "/v1/tasks/q2").status, 409);
  EXPECT_EQ(api.call("DELETE", "/v1/tasks/run1").status, 409);
  Answer q = api.call("DELETE", "/v1/tasks/q2?force=1");
  EXPECT_EQ(q.status, 204) << q.describe();
  EXPECT_TRUE(api.get("q2").is_null());
  Answer r = api.call("DELETE", "/v1/tasks/run1?force=1");
  EXPECT_EQ(r.status, 204) << r.describe();
  // The running one goes once it is reaped.
  EXPECT_TRUE(poll_until([&] { return api.get("run1").is_null(); }, 10000));
  EXPECT_TRUE(api.list().empty());
  EXPECT_FALSE(file_exists(d.data_dir() + "/logs/run1.stdout"));
  EXPECT_FALSE(file_exists(d.data_dir() + "/outputs/run1"));
  expect_no_leftovers(d);
}

TEST(DaemonLifecycle, StdinIsFedToTheTask) {
  DaemonProcess d;
  ASSERT_TRUE(d.start());
  Api api(d);
  ASSERT_FALSE(
      api.submit({{"id", "in1"}, {"stdin", "hello\n"}, {"command", {"/bin/cat"}}}).is_null());
  json done = api.wait("in1");
  EXPECT_EQ(cause_of(done), "exited") << done.dump();
  EXPECT_EQ(api.logs("in1"), "hello\n");
  // The stdin file goes with the task's end.
  EXPECT_FALSE(file_exists(d.data_dir() + "/stdin/in1"));
  expect_no_leftovers(d);
}

TEST(DaemonLifecycle, LogsFollowStreamsUntilTheEnd) {
  DaemonProcess d;
  ASSERT_TRUE(d.start());
  Api api(d);
  ASSERT_FALSE(api.submit({{"id", "f1"},
                           {"command", sh("echo one; sleep 0.3; echo two; sleep 0.3; echo three")}})
                   .is_null());
  Streamed s = stream_bounded(d, "/v1/tasks/f1/logs?follow=1", 20000);
  ASSERT_TRUE(s.ended) << "the follow did not end with the task; got so far: " << s.body;
  EXPECT_EQ(s.error, "");
  EXPECT_EQ(s.status, 200);
  EXPECT_EQ(s.body, "one\ntwo\nthree\n");
  json t = api.get("f1");
  EXPECT_TRUE(is_final_state(t)) << t.dump();
  // Following an ended task gives its whole log at once.
  Streamed again = stream_bounded(d, "/v1/tasks/f1/logs?follow=1", 10000);
  ASSERT_TRUE(again.ended);
  EXPECT_EQ(again.body, "one\ntwo\nthree\n");
  expect_no_leftovers(d);
}

// A follower of a task that ends without ever writing must see the end too. (Regression:
// followers were woken only by log growth, so the follow of a cancelled queued task never
// ended.)
TEST(DaemonLifecycle, LogsFollowEndsWhenAQueuedTaskIsCancelled) {
  DaemonProcess d;
  d.write_config(R"({"max_running": 1})");
  ASSERT_TRUE(d.start());
  Api api(d);
  ASSERT_FALSE(api.submit({{"id", "run1"}, {"command", {"/bin/sleep", "30"}}}).is_null());
  ASSERT_FALSE(api.submit({{"id", "q2"}, {"command", sh("echo never")}}).is_null());
  ASSERT_TRUE(api.wait_started("run1"));
  // Cancel q2 once the follow below is (very likely) suspended on it.
  std::thread canceller([&d] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    Api other(d);
    other.call("POST", "/v1/tasks/q2/kill");
  });
  Streamed s = stream_bounded(d, "/v1/tasks/q2/logs?follow=1", 5000);
  canceller.join();
  EXPECT_TRUE(s.ended) << "the follow of a cancelled task did not end";
  EXPECT_EQ(s.body, "");
  if (d.running()) {
    Api(d).call("POST", "/v1/tasks/run1/kill");
    EXPECT_EQ(cause_of(Api(d).wait("run1")), "killed");
    expect_no_leftovers(d);
  }
}

// As above, for a task whose sandbox could not be created (Orchestrator::fail_spawn).
TEST(DaemonLifecycle, LogsFollowEndsWhenTheSpawnFails) {
  DaemonProcess d;
  d.write_config(R"({"max_running": 1})");
  ASSERT_TRUE(d.start());
  Api api(d);
  ASSERT_FALSE(api.submit({{"id", "run1"}, {"command", {"/bin/sleep", "30"}}}).is_null());
  // The sandbox's init cannot chdir there: spawn_failed once it is admitted.
  ASSERT_FALSE(
      api.submit({{"id", "bad"}, {"cwd", "/nonexistent"}, {"command", {"/bin/true"}}}).is_null());
  ASSERT_TRUE(api.wait_started("run1"));
  std::thread releaser([&d] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    Api(d).call("POST", "/v1/tasks/run1/kill");
  });
  Streamed s = stream_bounded(d, "/v1/tasks/bad/logs?follow=1", 5000);
  releaser.join();
  EXPECT_TRUE(s.ended) << "the follow of a task whose spawn failed did not end";
  if (d.running()) {
    json bad = Api(d).wait("bad");
    EXPECT_EQ(cause_of(bad), "spawn_failed") << bad.dump();
    expect_no_leftovers(d);
  }
}

TEST(DaemonLifecycle, LogCapTruncates) {
  DaemonProcess d;
  d.write_config(R"({"log_cap": "64K"})");
  ASSERT_TRUE(d.start());
  Api api(d);
  // 80 x 64 KiB = 5 MiB to stdout.
  ASSERT_FALSE(
      api.submit({{"id", "cap1"}, {"command", {"/bin/dd", "if=/dev/zero", "bs=64k", "count=80"}}})
          .is_null());
  json done = api.wait("cap1");
  ASSERT_TRUE(done.is_object());
  EXPECT_EQ(done["result"]["cause"], "exited") << done.dump();
  EXPECT_EQ(done["result"]["stdout_truncated"], true) << done.dump();
  EXPECT_LE(done["result"]["stdout_bytes"].get<uint64_t>(), 64u * 1024);
  EXPECT_EQ(done["result"]["stderr_truncated"], false);
  EXPECT_LE(file_size(d.data_dir() + "/logs/cap1.stdout"), 64u * 1024);
  Answer logs = api.call("GET", "/v1/tasks/cap1/logs");
  EXPECT_EQ(logs.status, 200);
  EXPECT_LE(logs.text.size(), 64u * 1024);
  EXPECT_GT(logs.text.size(), 0u);
  EXPECT_EQ(logs.headers["x-clawcage-truncated"], "true");
  expect_no_leftovers(d);
}

// ---------------------------------------------------------------------------------------
// DaemonCli: the client verbs against a real daemon.

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

TEST(DaemonCli, SubmitWaitPsLogsRm) {
  DaemonProcess d;
  ASSERT_TRUE(d.start());
  std::string sock = d.socket_path();
  auto s = run_clawcage({"submit", "--socket", sock, "--", "/bin/sh", "-c", "echo hi; exit 5"}, 30,
                        false);
  ASSERT_EQ(s.exit_code, 0) << s.err;
  std::string id = trim(s.out);
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(id.find('\n'), std::string::npos) << s.out;

  auto w = run_clawcage({"wait", "--socket", sock, "--timeout", "30", id}, 60, false);
  EXPECT_EQ(w.exit_code, 5) << w.err;

  auto p = run_clawcage({"ps", "--socket", sock}, 30, false);
  EXPECT_EQ(p.exit_code, 0) << p.err;
  EXPECT_NE(p.out.find(id), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("exited"), std::string::npos) << p.out;

  auto l = run_clawcage({"logs", "--socket", sock, id}, 30, false);
  EXPECT_EQ(l.exit_code, 0) << l.err;
  EXPECT_EQ(l.out, "hi\n");

  auto r = run_clawcage({"rm", "--socket", sock, id}, 30, false);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto p2 = run_clawcage({"ps", "--socket", sock}, 30, false);
  EXPECT_EQ(p2.exit_code, 0) << p2.err;
  EXPECT_EQ(p2.out.find(id), std::string::npos) << p2.out;
  auto r2 = run_clawcage({"rm", "--socket", sock, id}, 30, false);
  EXPECT_NE(r2.exit_code, 0);
  expect_no_leftovers(d);
}

TEST(DaemonCli, SubmitAServiceWithAHealthCommand) {
  DaemonProcess d;
  ASSERT_TRUE(d.start());
  std::string sock = d.socket_path();
  auto s = run_clawcage({"submit", "--socket", sock, "--id", "svc1", "--restart", "on-failure:2",
                         "--health-cmd", "test -d /proc/1", "--health-interval", "100ms",
                         "--health-retries", "2", "--", "/bin/sleep", "60"},
                        30, false);
  ASSERT_EQ(s.exit_code, 0) << s.err;
  Api api(d);
  json req = api.get("svc1").value("request", json::object());
  EXPECT_EQ(req["restart"].value("policy", ""), "on-failure") << req.dump();
  EXPECT_EQ(req["restart"].value("max_restarts", 0), 2) << req.dump();
  EXPECT_EQ(req["health"]["command"], json({"/bin/sh", "-c", "test -d /proc/1"})) << req.dump();
  EXPECT_TRUE(poll_until(
      [&] {
        auto p = run_clawcage({"ps", "--socket", sock}, 30, false);
        return p.out.find("started (healthy)") != std::string::npos;
      },
      15000));
  auto bad = run_clawcage({"submit", "--socket", sock, "--health-retries", "2", "--", "/bin/true"},
                          30, false);
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("--health-cmd"), std::string::npos) << bad.err;
  auto bad2 = run_clawcage(
      {"submit", "--socket", sock, "--restart", "sometimes:3", "--", "/bin/true"}, 30, false);
  EXPECT_NE(bad2.err.find("--restart"), std::string::npos) << bad2.err;
  EXPECT_EQ(run_clawcage({"kill", "--socket", sock, "svc1"}, 30, false).exit_code, 0);
  api.wait("svc1");
  expect_no_leftovers(d);
}

TEST(DaemonCli, TopShowsTheLivePicture) {
  DaemonProcess d;
  ASSERT_TRUE(d.start());
  Api api(d);
  for (int i = 0; i < 3; ++i)
    ASSERT_FALSE(api.submit({{"id", "tp-a" + std::to_string(i)},
                             {"agent", "alpha"},
                             {"command", {"/bin/sleep", "30"}}})
                     .is_null());
  ASSERT_FALSE(api.submit({{"id", "tp-b0"}, {"agent", "beta"}, {"command", {"/bin/sleep", "30"}}})
                   .is_null());
  for (const char* id : {"tp-a0", "tp-a1", "tp-a2", "tp-b0"}) ASSERT_TRUE(api.wait_started(id));
  ASSERT_FALSE(api.submit({{"id", "tp-err"}, {"command", sh("exit 2")}}).is_null());
  api.wait("tp-err");
  auto t =
      run_clawcage({"top", "--socket", d.socket_path(), "--once", "--interval", "0.3"}, 30, false);
  EXPECT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.out.find("daemon healthy"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("started 4"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("exited !0 1"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("create 0.0"), std::string::npos) << "nothing created in the interval\n"
                                                         << t.out;
  std::istringstream lines(t.out);
  bool alpha = false, slowest = false;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("alpha", 0) == 0) alpha = line.find(" 3") != std::string::npos;
    if (line.rfind("tp-a0", 0) == 0) slowest = true;
  }
  EXPECT_TRUE(alpha) << t.out;
  EXPECT_TRUE(slowest) << t.out;
  auto none = run_clawcage({"top", "--socket", d.root() + "/no.sock", "--once"}, 30, false);
  EXPECT_NE(none.exit_code, 0);
  EXPECT_NE(none.err.find("no.sock"), std::string::npos) << none.err;
  for (const char* id : {"tp-a0", "tp-a1", "tp-a2", "tp-b0"})
    api.call("POST", std::string("/v1/tasks/") + id + "/kill");
  for (const char* id : {"tp-a0", "tp-a1", "tp-a2", "tp-b0"}) api.wait(id);
  expect_no_leftovers(d);
}

TEST(DaemonCli, KillThenWait) {
  DaemonProcess d;
  ASSERT_TRUE(d.start());
  std::string sock = d.socket_path();
  auto s = run_clawcage({"submit", "--socket", sock, "--id", "ck1", "--", "/bin/sleep", "30"}, 30,
                        false);
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_EQ(s.out, "ck1\n");
  Api api(d);
  ASSERT_TRUE(api.wait_started("ck1"));
  auto k = run_clawcage({"kill", "--socket", sock, "ck1"}, 30, false);
  EXPECT_EQ(k.exit_code, 0) << k.err;
  auto w = run_clawcage({"wait", "--socket", sock, "--timeout", "30", "ck1"}, 60, false);
  EXPECT_EQ(w.exit_code, 137) << w.err;
  expect_no_leftovers(d);
}

// ---------------------------------------------------------------------------------------
// DaemonRecovery: the journal and the kernel reconciled after the daemon died.

TEST(DaemonRecovery, KillNineWithRunningTasks) {
  DaemonProcess d;
  ASSERT_TRUE(d.start());
  Api api(d);
  std::vector<std::string> short_ids;
  for (int i = 0; i < 5; ++i) {
    std::string id = "short" + std::to_string(i);
    ASSERT_FALSE(api.submit({{"id", id}, {"command", {"/bin/sleep", "2"}}}).is_null());
    short_ids.push_back(id);
  }
  ASSERT_FALSE(api.submit({{"id", "late"}, {"deadline", "3s"}, {"command", {"/bin/sleep", "60"}}})
                   .is_null());
  for (const auto& id : short_ids) ASSERT_TRUE(api.wait_started(id)) << id;
  ASSERT_TRUE(api.wait_started("late"));

  d.kill9();
  ASSERT_TRUE(d.start());
  for (const auto& id : short_ids) {
    json done = api.wait(id, 30);
    ASSERT_TRUE(done.is_object());
    std::string cause = cause_of(done);
    EXPECT_TRUE(cause == "lost" || cause == "exited") << done.dump();
    if (cause == "exited") {
      EXPECT_EQ(done["result"]["exit_code"], 0);
    }
  }
  json late = api.wait("late", 30);
  ASSERT_TRUE(late.is_object());
  EXPECT_EQ(cause_of(late), "timeout") << late.dump();
  EXPECT_EQ(late["result"]["killed_by"], "deadline");
  auto tasks = api.list();
  EXPECT_EQ(tasks.size(), 6u);
  for (const auto& t : tasks) EXPECT_TRUE(is_final_state(t)) << t.dump();
  expect_no_leftovers(d);
}

TEST(DaemonRecovery, QueuedTasksSurviveKillNine) {
  DaemonProcess d;
  d.write_config(R"({"max_running": 1})");
  ASSERT_TRUE(d.start());
  Api api(d);
  ASSERT_FALSE(api.submit({{"id", "first"}, {"command", {"/bin/sleep", "30"}}}).is_null());
  std::vector<std::string> queued;
  for (int i = 0; i < 3; ++i) {
    std::string id = "q" + std::to_string(i);
    ASSERT_FALSE(
        api.submit({{"id", id}, {"stdin", id + "\n"}, {"command", {"/bin/cat"}}}).is_null());
    queued.push_back(id);
  }
  ASSERT_TRUE(api.wait_started("first"));
  for (const auto& id : queued) EXPECT_EQ(api.get(id)["state"], "queued");
  d.kill9();
  ASSERT_TRUE(d.start());
  // The running task was re-adopted (and still holds the only slot); an operator kill
  // reaches it through its cgroup.
  json first = api.get("first");
  EXPECT_EQ(first["state"], "started") << first.dump();
  for (const auto& id : queued) EXPECT_EQ(api.get(id)["state"], "queued");
  EXPECT_EQ(api.call("POST", "/v1/tasks/first/kill").status, 202);
  first = api.wait("first");
  EXPECT_EQ(cause_of(first), "killed") << first.dump();
  for (const auto& id : queued) {
    json done = api.wait(id);
    EXPECT_EQ(cause_of(done), "exited") << done.dump();
    EXPECT_EQ(api.logs(id), id + "\n");
  }
  expect_no_leftovers(d);
}

// Starts a daemon that SIGKILLs itself at `point` while spawning one task, then a normal
// one on the same dirs, and waits for the task. Returns it (null on failure).
json crash_and_recover(DaemonProcess& d, const std::string& point) {
  d.extra_env = {"CLAWCAGE_DAEMON_CRASH_AT=" + point};
  EXPECT_TRUE(d.start());
  if (!d.running()) return nullptr;
  std::string id = "crash-" + point;
  {
    // The answer (201 after the commit) may or may not come before the crash.
    Api api(d);
    Answer a =
        api.call("POST", "/v1/tasks", json{{"id", id}, {"command", sh("echo ok; exit 0")}}.dump());
    EXPECT_TRUE(a.status == 201 || a.status == 0) << a.describe();
  }
  int status = 0;
  bool exited = d.wait_exit(15000, &status);
  EXPECT_TRUE(exited) << "the daemon did not crash at " << point;
  if (!exited) return nullptr;
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "wait status " << status;
  EXPECT_NE(d.log().find("crashing at " + point), std::string::npos) << d.log();

  d.extra_env.clear();
  EXPECT_TRUE(d.start());
  if (!d.running()) return nullptr;
  Api api(d);
  json done = api.wait(id, 30);
  EXPECT_EQ(api.list().size(), 1u);
  if (done.is_object()) {
    ::testing::Test::RecordProperty("cause", cause_of(done));
    std::cout << "[ observed ] crash at " << point << ": state " << done.value("state", "")
              << ", cause " << cause_of(done) << ", stdout \"" << api.logs(id) << "\"\n";
  }
  return done;
}

void expect_ran_to_completion(DaemonProcess& d, const json& done) {
  ASSERT_TRUE(done.is_object());
  EXPECT_EQ(done["state"], "reaped") << done.dump();
  EXPECT_EQ(cause_of(done), "exited") << done.dump();
  EXPECT_EQ(done["result"]["exit_code"], 0);
  Api api(d);
  EXPECT_EQ(api.logs(done["id"]), "ok\n");
}

TEST(DaemonRecovery, CrashAtAdmittedRequeues) {
  DaemonProcess d;
  json done = crash_and_recover(d, "admitted");
  expect_ran_to_completion(d, done);
  expect_no_leftovers(d);
}

TEST(DaemonRecovery, CrashAtCreatedRequeues) {
  DaemonProcess d;
  json done = crash_and_recover(d, "created");
  expect_ran_to_completion(d, done);
  expect_no_leftovers(d);
}

TEST(DaemonRecovery, CrashAtStartedEnds) {
  // "started" is committed before the init is released: after the crash the daemon cannot
  // tell whether the payload ran, and reports it lost (observed: the init, never
  // released, exited with the daemon, so nothing ran). A requeue would be right as well.
  DaemonProcess d;
  json done = crash_and_recover(d, "started");
  ASSERT_TRUE(done.is_object());
  std::string cause = cause_of(done);
  if (cause == "lost") {
    EXPECT_EQ(done["result"]["exit_code"], 125);
    EXPECT_FALSE(done["result"]["error"].get<std::string>().empty());
  } else {
    expect_ran_to_completion(d, done);
  }
  EXPECT_TRUE(cause == "lost" || cause == "exited") << done.dump();
  expect_no_leftovers(d);
}

TEST(DaemonRecovery, CrashAtRunningEnds) {
  DaemonProcess d;
  json done = crash_and_recover(d, "running");
  ASSERT_TRUE(done.is_object());
  std::string cause = cause_of(done);
  EXPECT_TRUE(cause == "lost" || cause == "exited") << done.dump();
  EXPECT_TRUE(is_final_state(done));
  expect_no_leftovers(d);
}

TEST(DaemonRecovery, CrashAtExitedKeepsTheResult) {
  DaemonProcess d;
  json done = crash_and_recover(d, "exited");
  expect_ran_to_completion(d, done);
  expect_no_leftovers(d);
}

// After the daemon died, nothing may accept connections on its socket: clients must get
// ECONNREFUSED (and a restarted daemon's "is another daemon serving?" probe must not be
// fooled). Regression: a sandbox init is cloned, not exec'd, and held the daemon's
// listening socket until its exec; a daemon that died between create and start left an
// orphaned init answering on the socket for a moment (accept, then reset). A race, so
// repeated; it was seen in about one crash in 30 to 50.
TEST(DaemonRecovery, NoListenerOnTheSocketAfterACrash) {
  for (int round = 0; round < 40; ++round) {
    DaemonProcess d;
    d.extra_env = {"CLAWCAGE_DAEMON_CRASH_AT=created"};
    ASSERT_TRUE(d.start());
    Api api(d);
    api.call("POST", "/v1/tasks", json{{"id", "x"}, {"command", {"/bin/true"}}}.dump());
    ASSERT_TRUE(d.wait_exit(15000));
    pid_t listener = socket_listener_pid(d.socket_path());
    EXPECT_EQ(listener, 0) << "round " << round << ": the dead daemon's socket (listened on by pid "
                           << listener << ") still accepts connections";
    if (listener != 0) break;
  }
}

TEST(DaemonRecovery, OrphansTheJournalDoesNotKnowAreRemoved) {
  DaemonProcess d;
  std::vector<std::string> dirs;
  for (const char* h : {"memory", "unified"}) {
    std::string parent = std::string("/sys/fs/cgroup/") + h + "/" + d.cgroup_parent();
    if (!std::filesystem::is_directory(std::string("/sys/fs/cgroup/") + h)) continue;
    mkdir(parent.c_str(), 0755);
    std::string dir = parent + "/orphan1";
    ASSERT_EQ(mkdir(dir.c_str(), 0755), 0) << dir << ": " << strerror(errno);
    dirs.push_back(dir);
  }
  ASSERT_FALSE(dirs.empty());
  std::string state = d.run_dir() + "/sandboxes/orphan1";
  std::filesystem::create_directories(state);
  // A process in the orphan's cgroups, which must not survive it.
  pid_t child = fork();
  if (child == 0) {
    execl("/bin/sleep", "sleep", "60", static_cast<char*>(nullptr));
    _exit(127);
  }
  ASSERT_GT(child, 0);
  for (const auto& dir : dirs) {
    std::ofstream procs(dir + "/cgroup.procs");
    procs << child << std::flush;
    EXPECT_TRUE(procs.good()) << dir;
  }
  EXPECT_FALSE(d.leftovers().empty());

  ASSERT_TRUE(d.start());
  int status = 0;
  bool reaped = poll_until([&] { return waitpid(child, &status, WNOHANG) == child; }, 10000);
  if (!reaped) {
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
  }
  EXPECT_TRUE(reaped) << "the orphan's process outlived the daemon's start";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  for (const auto& dir : dirs) EXPECT_FALSE(file_exists(dir)) << dir;
  EXPECT_FALSE(file_exists(state));
  expect_no_leftovers(d);
}

// ---------------------------------------------------------------------------------------
// DaemonConcurrency

TEST(DaemonConcurrency, TwoHundredTasksFromEightClients) {
  DaemonProcess d;
  ASSERT_TRUE(d.start());
  constexpr int kThreads = 8, kPerThread = 25;
  const char* tiers[] = {"chroot", "container", "strict"};
  std::mutex mu;
  std::vector<std::string> failures;
  auto fail = [&](const std::string& what) {
    std::lock_guard<std::mutex> lock(mu);
    failures.push_back(what);
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      api::Client c(d.socket_path());
      std::vector<std::string> ids;
      for (int i = 0; i < kPerThread; ++i) {
        std::string id = "c" + std::to_string(t) + "-" + std::to_string(i);
        json request = {{"id", id},
                        {"tier", tiers[(t * kPerThread + i) % 3]},
                        {"command", {"/bin/sh", "-c", "echo $0 > /output/x", id}}};
        auto r = c.request("POST", "/v1/tasks", request.dump());
        if (!r || r->status != 201)
          fail("submit " + id + ": " +
               (r ? std::to_string(r->status) + " " + r->body : r.error().message()));
        else
          ids.push_back(id);
      }
      for (const auto& id : ids) {
        auto r = c.request("GET", "/v1/tasks/" + id + "/wait?timeout=60");
        if (!r || r->status != 200) {
          fail("wait " + id + ": " +
               (r ? std::to_string(r->status) + " " + r->body : r.error().message()));
          continue;
        }
        json task = parse(r->body);
        if (cause_of(task) != "exited" || task["result"]["exit_code"] != 0)
          fail("task " + id + ": " + r->body);
        std::string out = read_text(d.data_dir() + "/outputs/" + id + "/x");
        if (out != id + "\n") fail("output of " + id + ": \"" + out + "\"");
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_TRUE(failures.empty()) << failures.size() << " failures:\n  " << join_lines(failures);
  Api api(d);
  auto tasks = api.list();
  EXPECT_EQ(tasks.size(), size_t(kThreads * kPerThread));
  std::map<std::string, int> by_tier;
  for (const auto& t : tasks) ++by_tier[t.value("tier", "")];
  EXPECT_GT(by_tier["chroot"], 0);
  EXPECT_GT(by_tier["container"], 0);
  EXPECT_GT(by_tier["strict"], 0);
  expect_no_leftovers(d);
}

TEST(DaemonConcurrency, FairQueueingBetweenAgents) {
  DaemonProcess d;
  d.write_config(R"({"max_running_per_agent": 2})");
  ASSERT_TRUE(d.start());
  Api api(d);
  std::vector<std::string> big, small;
  for (int i = 0; i < 40; ++i) {
    std::string id = "big" + std::to_string(i);
    ASSERT_FALSE(
        api.submit({{"id", id}, {"agent", "big"}, {"command", {"/bin/sleep", "0.2"}}}).is_null());
    big.push_back(id);
  }
  for (int i = 0; i < 4; ++i) {
    std::string id = "small" + std::to_string(i);
    ASSERT_FALSE(
        api.submit({{"id", id}, {"agent", "small"}, {"command", {"/bin/sleep", "0.2"}}}).is_null());
    small.push_back(id);
  }
  std::map<std::string, json> done;
  for (const auto& id : big) done[id] = api.wait(id, 60);
  for (const auto& id : small) done[id] = api.wait(id, 60);
  double last_big = 0, last_small = 0;
  std::vector<std::pair<double, double>> big_runs;
  for (const auto& [id, t] : done) {
    ASSERT_TRUE(t.is_object()) << id;
    EXPECT_EQ(cause_of(t), "exited") << t.dump();
    double started = t.value("started_at", 0.0);
    EXPECT_GT(started, 0) << t.dump();
    if (id.rfind("big", 0) == 0) {
      last_big = std::max(last_big, started);
      big_runs.push_back({started, t.value("exited_at", 0.0)});
    } else {
      last_small = std::max(last_small, started);
    }
  }
  EXPECT_LT(last_small, last_big) << "a small task waited behind every big one";
  // The quota: never more than 2 of big's tasks at once.
  for (const auto& [start, end] : big_runs) {
    int overlapping = 0;
    for (const auto& [s, e] : big_runs)
      if (s <= start && start < e) ++overlapping;
    EXPECT_LE(overlapping, 2) << "at " << start;
  }
  expect_no_leftovers(d);
}

// ---------------------------------------------------------------------------------------
// DaemonHealth

TEST(DaemonHealth, HealthyWithEveryCheckOk) {
  DaemonProcess d;
  ASSERT_TRUE(d.start());
  Api api(d);
  Answer h = api.call("GET", "/v1/health");
  EXPECT_EQ(h.status, 200) << h.describe();
  ASSERT_TRUE(h.body.is_object()) << h.describe();
  EXPECT_EQ(h.body["healthy"], true) << h.text;
  ASSERT_TRUE(h.body["checks"].is_object()) << h.text;
  for (const char* name : {"cgroup_writable", "pid_headroom", "memory_headroom", "fd_headroom",
                           "journal_writable", "reconciler", "stuck"}) {
    ASSERT_TRUE(h.body["checks"].contains(name)) << name << " missing: " << h.text;
    EXPECT_EQ(h.body["checks"][name]["ok"], true) << name << ": " << h.text;
  }
  expect_no_leftovers(d);  // the cgroup probe went with the request
  // A graceful stop exits 0 and takes the socket with it.
  EXPECT_TRUE(d.stop());
  EXPECT_FALSE(file_exists(d.socket_path()));
}

std::string cpuset_of(const DaemonProcess& d, const std::string& id) {
  std::string text =
      read_text("/sys/fs/cgroup/cpuset/" + d.cgroup_parent() + "/" + id + "/cpuset.cpus");
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

// Exclusive cores: granted while free, refused with the holder named when not, and every
// other task is moved off them while they are held.
TEST(DaemonCpus, ExclusiveCoresAreGrantedRefusedAndReturned) {
  if (!std::filesystem::is_directory("/sys/fs/cgroup/cpuset")) GTEST_SKIP() << "no v1 cpuset";
  auto online = read_text("/sys/devices/system/cpu/online");
  if (online.find('-') == std::string::npos && online.find(',') == std::string::npos)
    GTEST_SKIP() << "one CPU";
  DaemonProcess d;
  d.write_config(R"({"cpu_pinning": true, "cpu_pool": "0-1", "min_shared_cpus": 1})");
  ASSERT_TRUE(d.start());
  Api api(d);
  ASSERT_FALSE(api.submit({{"id", "shared1"}, {"command", {"/bin/sleep", "30"}}}).is_null());
  ASSERT_TRUE(api.wait_started("shared1"));
  EXPECT_EQ(cpuset_of(d, "shared1"), "0-1");
  ASSERT_FALSE(api.submit({{"id", "pinned"},
                           {"exclusive_cpus", 1},
                           {"command", sh("grep Cpus_allowed_list /proc/self/status; sleep 30")}})
                   .is_null());
  ASSERT_TRUE(api.wait_started("pinned"));
  EXPECT_EQ(cpuset_of(d, "pinned"), "1");
  EXPECT_EQ(cpuset_of(d, "shared1"), "0");  // moved off the pinned core
  Answer busy =
      api.call("POST", "/v1/tasks",
               json{{"id", "p2"}, {"exclusive_cpus", 1}, {"command", {"/bin/true"}}}.dump());
  EXPECT_EQ(busy.status, 409) << busy.describe();
  EXPECT_NE(busy.text.find("pinned (cpu 1)"), std::string::npos) << busy.text;
  Answer too_many =
      api.call("POST", "/v1/tasks",
               json{{"id", "p3"}, {"exclusive_cpus", 2}, {"command", {"/bin/true"}}}.dump());
  EXPECT_EQ(too_many.status, 400) << too_many.describe();
  EXPECT_NE(too_many.text.find("exclusive_cpus"), std::string::npos) << too_many.text;
  api.call("POST", "/v1/tasks/pinned/kill");
  EXPECT_EQ(api.wait("pinned").value("result", json::object()).value("cause", ""), "killed");
  EXPECT_EQ(cpuset_of(d, "shared1"), "0-1");  // the core came back
  api.call("POST", "/v1/tasks/shared1/kill");
  api.wait("shared1");
  EXPECT_TRUE(d.leftovers().empty());
}

// With pinning off (the default) a request for exclusive cores is refused, not ignored.
TEST(DaemonCpus, ExclusiveCoresAreRefusedWhenPinningIsOff) {
  DaemonProcess d;
  ASSERT_TRUE(d.start());
  Answer a = Api(d).call("POST", "/v1/tasks",
                         json{{"exclusive_cpus", 1}, {"command", {"/bin/true"}}}.dump());
  EXPECT_EQ(a.status, 400) << a.describe();
  EXPECT_NE(a.text.find("cpu_pinning"), std::string::npos) << a.text;
}

// `clawcage submit -i` streams our stdin into the task and its output back, then exits with
// the task's code, like `docker run -i`.
TEST(DaemonAttach, SubmitInteractiveStreamsBothWays) {
  DaemonProcess d;
  ASSERT_TRUE(d.start());
  auto r = run_clawcage({"submit", "--socket", d.socket_path(), "-i", "--", "/bin/sh", "-c",
                         "while read l; do echo \"got $l\"; echo \"err $l\" >&2; done; exit 4"},
                        60, false, "one\ntwo\n");
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_EQ(r.out, "got one\ngot two\n");
  EXPECT_EQ(r.err, "err one\nerr two\n");
  EXPECT_TRUE(d.leftovers().empty());
}

// Attaching over the API: the upgrade answers 101, stdin reaches a stdin_open task, the
// output comes back in Docker's framing, and the stream ends with the task.
TEST(DaemonAttach, RawStreamOverTheApi) {
  DaemonProcess d;
  ASSERT_TRUE(d.start());
  Api api(d);
  ASSERT_FALSE(api.submit({{"id", "cat1"},
                           {"stdin_open", true},
                           {"stdin", "first\n"},
                           {"command", {"/bin/cat"}}})
                   .is_null());
  int in[2], out[2];
  ASSERT_EQ(pipe2(in, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  ASSERT_EQ(write(in[1], "second\n", 7), 7);
  close(in[1]);  // EOF after "second": cat ends
  auto a = api.client().attach("cat1", true, in[0], out[1], out[1]);
  close(in[0]);
  close(out[1]);
  EXPECT_TRUE(a) << (a ? "" : a.error().message());
  std::string got;
  char buf[256];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  close(out[0]);
  EXPECT_EQ(got, "first\nsecond\n");
  json t = api.wait("cat1");
  EXPECT_EQ(t.value("result", json::object()).value("cause", ""), "exited") << t.dump();
  // Attaching to an ended task gives its output and ends at once.
  auto again =
      run_clawcage({"attach", "--socket", d.socket_path(), "--no-stdin", "cat1"}, 30, false);
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, "first\nsecond\n");
  // A plain POST without the upgrade headers is refused.
  Answer plain = api.call("POST", "/v1/tasks/cat1/attach");
  EXPECT_EQ(plain.status, 400) << plain.describe();
  EXPECT_TRUE(d.leftovers().empty());
}

// A service restarts on failure with a growing pause, up to its cap; an operator kill ends it.
TEST(DaemonRestart, OnFailureRunsAgainUpToTheCap) {
  DaemonProcess d;
  ASSERT_TRUE(d.start());
  Api api(d);
  ASSERT_FALSE(api.submit({{"id", "svc"},
                           {"command", sh("echo run; exit 1")},
                           {"restart",
                            {{"policy", "on-failure"}, {"max_restarts", 2}, {"backoff", "100ms"}}}})
                   .is_null());
  json t = api.wait("svc");
  EXPECT_EQ(t.value("result", json::object()).value("exit_code", -1), 1) << t.dump();
  EXPECT_EQ(t.value("state", ""), "reaped");
  EXPECT_EQ(api.logs("svc"), "run\nrun\nrun\n");  // the first run and two restarts
  // A clean exit is not restarted under on-failure.
  ASSERT_FALSE(api.submit({{"id", "ok"},
                           {"command", {"/bin/true"}},
                           {"restart", {{"policy", "on-failure"}, {"backoff", "100ms"}}}})
                   .is_null());
  EXPECT_EQ(api.wait("ok").value("result", json::object()).value("exit_code", -1), 0);
  // always: runs again after a clean exit too, until an operator kill.
  ASSERT_FALSE(
      api.submit({{"id", "loop"},
                  {"command", sh("echo tick; sleep 0.2")},
                  {"restart", {{"policy", "always"}, {"max_restarts", 0}, {"backoff", "50ms"}}}})
          .is_null());
  EXPECT_TRUE(poll_until([&] { return api.logs("loop").size() >= 10; }, 15000));  // two runs
  EXPECT_TRUE(api.wait_started("loop"));
  api.call("POST", "/v1/tasks/loop/kill");
  json killed = api.wait("loop");
  std::string cause = killed.value("result", json::object()).value("cause", "");
  EXPECT_TRUE(cause == "killed" || cause == "exited") << killed.dump();
  EXPECT_EQ(killed.value("state", ""), "reaped") << killed.dump();
  // A bad policy is a 400 naming the field.
  Answer bad =
      api.call("POST", "/v1/tasks",
               json{{"command", {"/bin/true"}}, {"restart", {{"policy", "sometimes"}}}}.dump());
  EXPECT_EQ(bad.status, 400) << bad.describe();
  EXPECT_NE(bad.text.find("restart.policy"), std::string::npos) << bad.text;
  EXPECT_TRUE(d.leftovers().empty());
}

// Service health commands run inside the task's sandbox (its /tmp, its hostname), on an
// interval, with a timeout; `retries` failures make it unhealthy, which kills a service that
// has a restart policy (killed_by "health") and only marks one that has none.
TEST(DaemonServiceHealth, ChecksRunInsideTheSandboxAndDriveRestarts) {
  DaemonProcess d;
  ASSERT_TRUE(d.start());
  Api api(d);
  auto health = [&](const std::string& id) {
    json t = api.get(id);
    return t.is_object() ? t.value("health", json::object()) : json::object();
  };
  // Healthy once the service has made its file in its own /tmp; the check's output is kept.
  ASSERT_FALSE(api.submit({{"id", "web"},
                           {"command", sh("sleep 0.3; touch /tmp/ready-web; sleep 60")},
                           {"health",
                            {{"command", sh("echo probe on $(hostname); test -f /tmp/ready-web")},
                             {"interval", "100ms"},
                             {"start_period", "5s"},
                             {"retries", 2}}}})
                   .is_null());
  EXPECT_TRUE(poll_until([&] { return health("web").value("status", "") == "healthy"; }, 15000))
      << health("web").dump();
  json h = health("web");
  EXPECT_EQ(h["last"].value("exit_code", -1), 0);
  EXPECT_EQ(h["last"].value("output", ""), "probe on web\n") << h.dump();
  EXPECT_NE(access("/tmp/ready-web", F_OK), 0) << "the check ran on the host";

  // Unhealthy without a restart policy: marked, left running.
  ASSERT_FALSE(
      api.submit(
             {{"id", "sick"},
              {"command", {"/bin/sleep", "60"}},
              {"health", {{"command", {"/no/such/probe"}}, {"interval", "100ms"}, {"retries", 2}}}})
          .is_null());
  EXPECT_TRUE(poll_until([&] { return health("sick").value("status", "") == "unhealthy"; }, 15000));
  h = health("sick");
  EXPECT_EQ(h["last"].value("exit_code", -1), 127) << h.dump();
  EXPECT_NE(h["last"].value("output", "").find("/no/such/probe"), std::string::npos) << h.dump();
  EXPECT_EQ(api.get("sick").value("state", ""), "started");

  // A check past its timeout is killed and fails with 124.
  ASSERT_FALSE(api.submit({{"id", "slow"},
                           {"command", {"/bin/sleep", "60"}},
                           {"health",
                            {{"command", {"/bin/sleep", "30"}},
                             {"interval", "100ms"},
                             {"timeout", "200ms"},
                             {"retries", 1}}}})
                   .is_null());
  EXPECT_TRUE(poll_until([&] { return health("slow").value("checks", 0) >= 1; }, 15000));
  h = health("slow");
  EXPECT_EQ(h["last"].value("exit_code", -1), 124) << h.dump();
  EXPECT_NE(h["last"].value("output", "").find("timed out"), std::string::npos) << h.dump();

  // With on-failure: healthy, then its file goes, it turns unhealthy, is killed by "health"
  // and restarted once; the second run ends the same way and is not restarted again.
  ASSERT_FALSE(
      api.submit(
             {{"id", "flaky"},
              {"command", sh("echo run; touch /tmp/ok; sleep 0.5; rm /tmp/ok; "
                             "sleep 60")},
              {"restart", {{"policy", "on-failure"}, {"max_restarts", 1}, {"backoff", "100ms"}}},
              {"health",
               {{"command", {"test", "-f", "/tmp/ok"}}, {"interval", "100ms"}, {"retries", 2}}}})
          .is_null());
  json t = api.wait("flaky");
  json r = t.value("result", json::object());
  EXPECT_EQ(r.value("cause", ""), "killed") << t.dump();
  EXPECT_EQ(r.value("killed_by", ""), "health") << t.dump();
  EXPECT_EQ(api.logs("flaky"), "run\nrun\n");

  // A health check without a command is a 400 naming the field.
  Answer bad = api.call("POST", "/v1/tasks",
                        json{{"command", {"/bin/true"}}, {"health", {{"interval", "1s"}}}}.dump());
  EXPECT_EQ(bad.status, 400) << bad.describe();
  EXPECT_NE(bad.text.find("health.command"), std::string::npos) << bad.text;
  for (const char* id : {"web", "sick", "slow"})
    api.call("POST", std::string("/v1/tasks/") + id + "/kill");
  for (const char* id : {"web", "sick", "slow"}) api.wait(id);
  EXPECT_TRUE(d.leftovers().empty());
}

// The sum of a metric's samples whose labels include every pair in `want`.
double metric_sum(const std::string& text, const std::string& name,
                  const std::map<std::string, std::string>& want) {
  return orchestrator::sum_samples(orchestrator::parse_samples(text), name, want);
}

// /metrics counts every ending by its cause, exactly, and promtool accepts the text.
TEST(DaemonMetrics, ExitCausesCreatesAndDeletesAreCountedExactly) {
  DaemonProcess d;
  ASSERT_TRUE(d.start());
  Api api(d);
  std::vector<std::string> ids;
  auto submit = [&](const std::string& id, json req) {
    req["id"] = id;
    ASSERT_FALSE(api.submit(req).is_null());
    ids.push_back(id);
  };
  for (int i = 0; i < 12; ++i) submit("ok" + std::to_string(i), {{"command", {"/bin/true"}}});
  for (int i = 0; i < 6; ++i) submit("err" + std::to_string(i), {{"command", sh("exit 3")}});
  for (int i = 0; i < 3; ++i)
    submit("slow" + std::to_string(i), {{"deadline", "300ms"}, {"command", {"/bin/sleep", "30"}}});
  for (int i = 0; i < 2; ++i)
    submit("oom" + std::to_string(i),
           {{"memory", "32M"}, {"command", sh("x=a; while true; do x=$x$x; done")}});
  for (int i = 0; i < 4; ++i) submit("op" + std::to_string(i), {{"command", {"/bin/sleep", "30"}}});
  for (int i = 0; i < 4; ++i) {
    std::string id = "op" + std::to_string(i);
    ASSERT_TRUE(api.wait_started(id));
    api.call("POST", "/v1/tasks/" + id + "/kill");
  }
  for (const auto& id : ids) api.wait(id);

  Answer a = api.call("GET", "/metrics");
  ASSERT_EQ(a.status, 200) << a.describe();
  EXPECT_NE(a.headers["content-type"].find("text/plain; version=0.0.4"), std::string::npos);
  const std::string& m = a.text;
  auto exits = [&](std::map<std::string, std::string> want) {
    return metric_sum(m, "clawcage_task_exits_total", want);
  };
  EXPECT_EQ(exits({{"cause", "exited"}, {"exit_code", "zero"}}), 12) << m;
  EXPECT_EQ(exits({{"cause", "exited"}, {"exit_code", "nonzero"}}), 6) << m;
  EXPECT_EQ(exits({{"cause", "timeout"}, {"killed_by", "deadline"}}), 3) << m;
  EXPECT_EQ(exits({{"cause", "oom_killed"}}), 2) << m;
  EXPECT_EQ(exits({{"cause", "killed"}, {"killed_by", "operator"}}), 4) << m;
  EXPECT_EQ(exits({}), 27) << m;
  EXPECT_EQ(metric_sum(m, "clawcage_container_changes_total",
                       {{"operation", "create"}, {"tier", "container"}}),
            27);
  EXPECT_EQ(metric_sum(m, "clawcage_container_changes_total",
                       {{"operation", "delete"}, {"tier", "container"}}),
            27);
  EXPECT_EQ(metric_sum(m, "clawcage_task_oom_kills_total", {}) >= 2, true) << m;
  EXPECT_EQ(metric_sum(m, "clawcage_spawn_seconds_count", {{"tier", "container"}}), 27);
  EXPECT_EQ(metric_sum(m, "clawcage_tasks", {}), 0);
  EXPECT_EQ(metric_sum(m, "clawcage_leaked_kernel_resources", {}), 0);
  EXPECT_EQ(metric_sum(m, "clawcage_healthy", {}), 1);

  // promtool (Debian's prometheus package) checks the exposition, lint included.
  std::string file = make_temp_dir("metrics") + "/metrics.txt";
  std::ofstream(file) << m;
  // scripts/setup.sh unpacks it there.
  const std::string promtool = "/var/cache/clawcage/tools/prometheus/usr/bin/promtool";
  ASSERT_EQ(access(promtool.c_str(), X_OK), 0) << promtool << ": run scripts/setup.sh";
  auto checked = run_shell(promtool + " check metrics < " + file + " 2>&1");
  EXPECT_EQ(checked.exit_code, 0) << checked.out;
  EXPECT_EQ(checked.out, "") << "promtool warnings:\n" << checked.out;
  expect_no_leftovers(d);
}

TEST(DaemonMetrics, StatsOfARunningTask) {
  DaemonProcess d;
  ASSERT_TRUE(d.start());
  Api api(d);
  // Holds about 8 MiB in a shell variable, then sleeps.
  ASSERT_FALSE(api.submit({{"id", "st1"},
                           {"command", sh("x=$(head -c 8000000 /dev/zero | tr '\\0' a); "
                                          "sleep 30")}})
                   .is_null());
  ASSERT_TRUE(api.wait_started("st1"));
  json s;
  EXPECT_TRUE(poll_until(
      [&] {
        Answer a = api.call("GET", "/v1/tasks/st1/stats");
        s = a.body;
        return a.status == 200 && s.value("memory_peak_bytes", 0) > 8000000;
      },
      15000))
      << s.dump();
  EXPECT_EQ(s.value("id", ""), "st1");
  EXPECT_GE(s.value("pids_current", 0), 1);
  EXPECT_GT(s.value("cpu_usec", 0), 0);
  EXPECT_EQ(api.call("GET", "/v1/tasks/nope/stats").status, 404);
  api.call("POST", "/v1/tasks/st1/kill");
  api.wait("st1");
  Answer done = api.call("GET", "/v1/tasks/st1/stats");
  EXPECT_EQ(done.status, 409) << done.describe();
  EXPECT_NE(done.text.find("not running"), std::string::npos) << done.text;
  expect_no_leftovers(d);
}

// The audit trail of a real daemon: every event matches share/audit.schema.json (checked with
// python3-jsonschema), the lifecycle and policy decisions are there, `clawcage audit verify`
// passes; after a SIGKILL and a torn last line it verifies up to the last complete event, a
// restart recovers it, and a tail cut below the journal's head is caught.
TEST(DaemonAudit, EventsMatchTheSchemaAndTheChainSurvivesACrash) {
  DaemonProcess d;
  std::string store = d.root() + "/store";
  auto layout = build_test_layout(d.root() + "/layout", "echo from-image");
  auto imported = run_clawcage({"image", "import", layout.dir, "--store", store}, 60, false);
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  d.write_config(json{{"image_store", store}}.dump());
  ASSERT_TRUE(d.start());
  Api api(d);
  ASSERT_FALSE(api.submit({{"id", "au0"}, {"image", "demo:1"}}).is_null());
  EXPECT_EQ(api.wait("au0").value("result", json::object()).value("exit_code", -1), 0);
  ASSERT_FALSE(
      api.submit({{"id", "au1"}, {"agent", "auditor"}, {"command", sh("exit 4")}}).is_null());
  ASSERT_FALSE(api.submit({{"id", "au2"}, {"command", {"/bin/sleep", "30"}}}).is_null());
  ASSERT_TRUE(api.wait_started("au2"));
  api.call("POST", "/v1/tasks/au2/kill");
  api.wait("au1");
  api.wait("au2");
  Answer bad =
      api.call("POST", "/v1/tasks", json{{"command", {"/bin/true"}}, {"tier", "x"}}.dump());
  EXPECT_EQ(bad.status, 400);
  ASSERT_TRUE(d.stop());

  std::string verify =
      binary() + " audit verify --log " + d.audit_log() + " --data-dir " + d.data_dir();
  RunOutput v = run_shell(verify + " 2>&1");
  int rc = v.exit_code;
  std::string out = v.out;
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("ok: "), std::string::npos) << out;

  std::vector<json> events;
  {
    std::ifstream in(d.audit_log());
    for (std::string line; std::getline(in, line);) events.push_back(json::parse(line));
  }
  auto has = [&](const std::function<bool(const json&)>& pred) {
    return std::any_of(events.begin(), events.end(), pred);
  };
  EXPECT_TRUE(has([](const json& e) {
    return e["event"] == "request" && e["task"] == "au1" && e["agent"] == "auditor";
  }));
  EXPECT_TRUE(has([](const json& e) {
    return e["event"] == "tier" && e["task"] == "au1" && e["tier"] == "container" &&
           !e["controls"].empty();
  }));
  for (const char* st : {"admitted", "created", "started", "exited", "reaped"})
    EXPECT_TRUE(has([&](const json& e) {
      return e["event"] == "state" && e["task"] == "au1" && e["state"] == st;
    })) << st;
  EXPECT_TRUE(has([](const json& e) {
    return e["event"] == "state" && e["task"] == "au1" && e["state"] == "exited" &&
           e["result"]["exit_code"] == 4 && e["result"]["cause"] == "exited";
  }));
  EXPECT_TRUE(has([](const json& e) {
    return e["event"] == "kill" && e["task"] == "au2" && e["by"] == "operator";
  }));
  EXPECT_TRUE(has([](const json& e) {
    return e["event"] == "image" && e["task"] == "au0" && e["image"] == "demo:1" &&
           e["digest"].get<std::string>().rfind("sha256:", 0) == 0 && e["verified_by"].is_null();
  }));
  EXPECT_TRUE(has([](const json& e) {
    return e["event"] == "rejected" &&
           e["reason"].get<std::string>().find("tier") != std::string::npos;
  }));
  EXPECT_TRUE(has([](const json& e) { return e["event"] == "daemon_stop"; }));

  // Every line against the schema, with a real JSON Schema validator.
  std::string script = d.root() + "/validate.py";
  std::ofstream(script) << "import json, sys, jsonschema\n"
                           "schema = json.load(open(sys.argv[1]))\n"
                           "v = jsonschema.Draft202012Validator(schema)\n"
                           "n = 0\n"
                           "for line in open(sys.argv[2]):\n"
                           "    v.validate(json.loads(line)); n += 1\n"
                           "print('valid', n)\n";
  v = run_shell("/usr/bin/python3 " + script + " " + std::string(CLAWCAGE_SOURCE_DIR) +
                "/share/audit.schema.json " + d.audit_log() + " 2>&1");
  rc = v.exit_code;
  out = v.out;
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "valid " + std::to_string(events.size()) + "\n");

  // SIGKILL with tasks running, then a torn last line as a crash mid-write leaves it.
  ASSERT_TRUE(d.start());
  ASSERT_FALSE(api.submit({{"id", "au3"}, {"command", {"/bin/sleep", "30"}}}).is_null());
  ASSERT_TRUE(api.wait_started("au3"));
  d.kill9();
  {
    std::ofstream torn(d.audit_log(), std::ios::app);
    torn << R"({"event":"state","seq":)";
  }
  v = run_shell(verify + " 2>&1");
  rc = v.exit_code;
  out = v.out;
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("incomplete last line"), std::string::npos) << out;
  ASSERT_TRUE(d.start());
  api.call("POST", "/v1/tasks/au3/kill");
  api.wait("au3");
  ASSERT_TRUE(d.stop());
  v = run_shell(verify + " 2>&1");
  rc = v.exit_code;
  out = v.out;
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out.find("incomplete"), std::string::npos) << out;
  std::string log_text = read_text(d.audit_log());
  EXPECT_NE(log_text.find("removed an incomplete last line"), std::string::npos);

  // Whole events cut from the end: the chain alone cannot tell, the journal's head does.
  std::vector<std::string> lines;
  {
    std::istringstream in(log_text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
  }
  {
    std::ofstream cut(d.audit_log(), std::ios::trunc);
    for (size_t i = 0; i + 3 < lines.size(); ++i) cut << lines[i] << "\n";
  }
  v = run_shell(verify + " 2>&1");
  rc = v.exit_code;
  out = v.out;
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("truncated tail"), std::string::npos) << out;
  expect_no_leftovers(d);
}

// A sandbox whose cgroup will not empty is reported as stuck, not waited on forever: its
// init is frozen in a v1 freezer cgroup of the test's own (frozen tasks ignore SIGKILL there),
// so the daemon's kill cannot empty the task's cgroup. Once thawed, the retry reaps it.
TEST(DaemonStuck, ACgroupThatWillNotEmptyIsReportedAndRetried) {
  if (!std::filesystem::is_directory("/sys/fs/cgroup/freezer")) GTEST_SKIP() << "no v1 freezer";
  DaemonProcess d;
  ASSERT_TRUE(d.start());
  Api api(d);
  ASSERT_FALSE(api.submit({{"id", "st1"}, {"command", {"/bin/sleep", "60"}}}).is_null());
  ASSERT_TRUE(api.wait_started("st1"));
  json t = api.get("st1");
  int pid = t.value("pid", 0);
  ASSERT_GT(pid, 0);
  std::string freezer = "/sys/fs/cgroup/freezer/" + d.cgroup_parent() + "-stuck";
  ASSERT_EQ(mkdir(freezer.c_str(), 0755), 0) << strerror(errno);
  auto write = [](const std::string& path, const std::string& value) {
    std::ofstream f(path);
    f << value;
    f.flush();
    return f.good();
  };
  ASSERT_TRUE(write(freezer + "/cgroup.procs", std::to_string(pid)));
  ASSERT_TRUE(write(freezer + "/freezer.state", "FROZEN"));
  ASSERT_TRUE(
      poll_until([&] { return read_text(freezer + "/freezer.state") == "FROZEN\n"; }, 5000));
  api.call("POST", "/v1/tasks/st1/kill");
  // The kill cannot finish: the task is reported stuck and health says so.
  bool stuck = poll_until(
      [&] {
        json h = api.call("GET", "/v1/health").body;
        return h.is_object() && h["checks"]["stuck"]["count"] == 1 && h["healthy"] == false;
      },
      20000, 100);
  EXPECT_TRUE(stuck);
  Answer h = api.call("GET", "/v1/health");
  EXPECT_EQ(h.status, 503) << h.describe();
  json now = api.get("st1");
  EXPECT_EQ(now.value("stuck", false), true) << now.dump();
  EXPECT_NE(now.value("state", ""), "reaped") << now.dump();
  EXPECT_EQ(api.call("DELETE", "/v1/tasks/st1").status, 409);  // not while stuck
  // Thawed, the SIGKILL lands; the next retry removes the cgroup and reaps the task.
  ASSERT_TRUE(write(freezer + "/freezer.state", "THAWED"));
  EXPECT_TRUE(poll_until(
      [&] {
        json x = api.get("st1");
        return x.value("state", "") == "reaped" && x.value("stuck", true) == false;
      },
      30000, 100))
      << api.get("st1").dump();
  EXPECT_EQ(api.call("GET", "/v1/health").status, 200);
  for (int i = 0; i < 100 && rmdir(freezer.c_str()) != 0; ++i) usleep(20000);
  EXPECT_TRUE(d.leftovers().empty());
}

// With --keeper, a crash of the daemon loses no result: the keeper restarts it and keeps the
// exit status of the inits that ended meanwhile (reparented to it), and of those that end
// after the restarted daemon re-adopted them.
TEST(DaemonRecovery, KeeperKeepsTrueResultsAcrossACrash) {
  DaemonProcess d;
  d.extra_args = {"--keeper"};
  ASSERT_TRUE(d.start());
  Api api(d);
  ASSERT_FALSE(api.submit({{"id", "quick"}, {"command", sh("sleep 0.2; exit 3")}}).is_null());
  ASSERT_FALSE(api.submit({{"id", "slow"}, {"command", sh("sleep 2; exit 4")}}).is_null());
  ASSERT_TRUE(api.wait_started("quick"));
  ASSERT_TRUE(api.wait_started("slow"));
  // The daemon is the keeper's child: kill it, not the keeper.
  std::string children = read_text("/proc/" + std::to_string(d.pid()) + "/task/" +
                                   std::to_string(d.pid()) + "/children");
  pid_t daemon = static_cast<pid_t>(std::atol(children.c_str()));
  ASSERT_GT(daemon, 0) << children;
  ASSERT_EQ(kill(daemon, SIGKILL), 0);
  usleep(400000);  // "quick" ends while no daemon runs
  json quick, slow;
  ASSERT_TRUE(poll_until(
      [&] {
        Answer a = api.call("GET", "/v1/tasks/quick/wait?timeout=1");
        if (a.status != 200) return false;
        quick = a.body;
        return true;
      },
      20000, 100));
  slow = api.wait("slow");
  EXPECT_EQ(quick.value("result", json::object()).value("cause", ""), "exited") << quick.dump();
  EXPECT_EQ(quick.value("result", json::object()).value("exit_code", -1), 3) << quick.dump();
  EXPECT_EQ(slow.value("result", json::object()).value("cause", ""), "exited") << slow.dump();
  EXPECT_EQ(slow.value("result", json::object()).value("exit_code", -1), 4) << slow.dump();
  EXPECT_TRUE(d.stop());
  EXPECT_TRUE(d.leftovers().empty());
}

// Under a trust policy the daemon routes a signed image to its route's tier, refuses an
// unsigned image and a weaker tier at submit (403, nothing queued), and the task record and
// the audit trail keep which key verified which digest.
TEST(DaemonTrust, SignedImagesAreRoutedOthersRefusedAndTheKeyIsKept) {
  DaemonProcess d;
  std::string work = d.root() + "/trust";
  std::filesystem::create_directories(work);
  std::string log;
  std::string layout = build_umoci_image(work, "echo signed image", &log);
  ASSERT_FALSE(layout.empty()) << log;
  GpgKey key = make_gpg_key(work, "internal");
  ASSERT_FALSE(key.fingerprint.empty());
  std::string accept = write_accept_all_policy(work);
  ASSERT_EQ(
      skopeo_copy(accept, "--sign-by " + key.fingerprint + " --sign-identity localhost/agent:1",
                  "oci:" + layout + ":agent", "dir:" + work + "/signed", &log, key.home),
      0)
      << log;
  stop_gpg_agent(key);
  std::string store = d.root() + "/store";
  ASSERT_EQ(run_clawcage({"image", "import", "dir:" + work + "/signed", "--name",
                          "localhost/agent:1", "--store", store},
                         60, false)
                .exit_code,
            0);
  auto unsigned_layout = build_test_layout(d.root() + "/layout", "echo unsigned");
  ASSERT_EQ(
      run_clawcage({"image", "import", unsigned_layout.dir, "--store", store}, 60, false).exit_code,
      0);
  std::string trust = work + "/trust.json";
  std::ofstream(trust) << json{
      {"routes",
       {{{"name", "internal"},
         {"tier", "strict"},
         {"requirements",
          {{{"type", "signedBy"}, {"keyType", "GPGKeys"}, {"keyPath", key.keyring}}}}},
        {{"name", "local"}, {"tier", "container"}, {"source", "rootfs"}}}},
      {"otherwise", "reject"}}.dump();
  d.write_config(json{{"image_store", store}, {"trust_policy", trust}}.dump());
  ASSERT_TRUE(d.start());
  Api api(d);
  ASSERT_FALSE(api.submit({{"id", "tr0"}, {"image", "localhost/agent:1"}}).is_null());
  json done = api.wait("tr0");
  EXPECT_EQ(done.value("result", json::object()).value("exit_code", -1), 0) << done.dump();
  EXPECT_EQ(done["tier"], "strict");
  ASSERT_TRUE(done.contains("trust")) << done.dump();
  EXPECT_EQ(done["trust"]["verified_by"][0]["key"], key.fingerprint);
  EXPECT_NE(done["trust"]["why"].get<std::string>().find("signed by internal key"),
            std::string::npos);
  EXPECT_EQ(api.logs("tr0"), "signed image\n");
  // A task without an image takes the rootfs route.
  ASSERT_FALSE(api.submit({{"id", "tr1"}, {"command", {"/bin/true"}}}).is_null());
  EXPECT_EQ(api.wait("tr1")["tier"], "container");
  // Refused at submit, nothing queued.
  Answer a = api.call("POST", "/v1/tasks", json{{"id", "tr2"}, {"image", "demo:1"}}.dump());
  EXPECT_EQ(a.status, 403) << a.describe();
  EXPECT_NE(a.text.find("no route admits"), std::string::npos) << a.text;
  a = api.call("POST", "/v1/tasks",
               json{{"id", "tr3"}, {"image", "localhost/agent:1"}, {"tier", "container"}}.dump());
  EXPECT_EQ(a.status, 403) << a.describe();
  EXPECT_NE(a.text.find("weaker than strict"), std::string::npos) << a.text;
  EXPECT_TRUE(api.get("tr2").is_null());
  EXPECT_TRUE(api.get("tr3").is_null());
  ASSERT_TRUE(d.stop());
  // The record survives a restart (journal), and the audit trail names the key.
  ASSERT_TRUE(d.start());
  EXPECT_EQ(api.get("tr0")["trust"]["verified_by"][0]["key"], key.fingerprint);
  ASSERT_TRUE(d.stop());
  bool found = false;
  std::ifstream in(d.audit_log());
  for (std::string line; std::getline(in, line);) {
    json e = json::parse(line);
    if (e["event"] == "image" && e["task"] == "tr0") {
      found = true;
      ASSERT_TRUE(e["verified_by"].is_array()) << line;
      EXPECT_EQ(e["verified_by"][0]["key"], key.fingerprint);
      EXPECT_EQ(e["verified_by"][0]["digest"], e["digest"]);
    }
    if (e["event"] == "tier" && e["task"] == "tr0") {
      EXPECT_NE(e["why"].get<std::string>().find("signed by internal key"), std::string::npos);
    }
  }
  EXPECT_TRUE(found);
  std::string script = d.root() + "/validate.py";
  std::ofstream(script) << "import json, sys, jsonschema\n"
                           "v = jsonschema.Draft202012Validator(json.load(open(sys.argv[1])))\n"
                           "for line in open(sys.argv[2]): v.validate(json.loads(line))\n"
                           "print('valid')\n";
  RunOutput v = run_shell("/usr/bin/python3 " + script + " " + std::string(CLAWCAGE_SOURCE_DIR) +
                          "/share/audit.schema.json " + d.audit_log() + " 2>&1");
  EXPECT_EQ(v.exit_code, 0) << v.out;
  expect_no_leftovers(d);
}

}  // namespace
}  // namespace clawcage::test
