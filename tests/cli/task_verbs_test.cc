// The daemon's client verbs (submit, ps, logs, wait, kill, rm) run as a user would, against
// a fake daemon: the requests they send, what they print, and their exit codes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/fake_daemon.h"
#include "support/run_clawcage.h"

namespace clawcage::test {
namespace {

using nlohmann::json;

std::string task_json(const std::string& id, const json& result) {
  json t = {{"id", id},         {"agent", "a"}, {"state", result.is_null() ? "queued" : "exited"},
            {"tier", "strict"}, {"seq", 1},     {"submitted_at", 1000.5},
            {"result", result}};
  return t.dump();
}

TEST(ApiClientVerbs, SubmitSendsTheDocumentedRequest) {
  FakeDaemon daemon({{http_answer(201, task_json("t1", nullptr))}});
  auto r = run_clawcage({"submit",       "--socket",   daemon.socket_path(),
                         "--agent",      "a1",         "--id",
                         "t1",           "--isolate",  "strict",
                         "-e",           "A=1",        "--env",
                         "B=2",          "--memory",   "64M",
                         "--memory",     "128M",       "--pids",
                         "10",           "--cpus",     "0.5",
                         "--cpu-shares", "512",        "--timeout",
                         "30s",          "--scratch",  "8M",
                         "-w",           "/work",      "-u",
                         "1000:1000",    "--hostname", "h",
                         "--image",      "demo:1",     "--volume",
                         "data:/data",   "--volume",   "cache:/c:rw",
                         "--no-output",  "--",         "sh",
                         "-c",           "echo -n hi"},
                        30, false);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "t1\n");
  EXPECT_EQ(r.err, "");
  auto seen = daemon.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].target, "/v1/tasks");
  json want = {{"agent", "a1"},
               {"id", "t1"},
               {"tier", "strict"},
               {"command", {"sh", "-c", "echo -n hi"}},
               {"env", {"A=1", "B=2"}},
               {"memory", "128M"},
               {"pids", 10},
               {"cpus", "0.5"},
               {"cpu_shares", 512},
               {"deadline", "30s"},
               {"scratch", "8M"},
               {"cwd", "/work"},
               {"user", "1000:1000"},
               {"hostname", "h"},
               {"image", "demo:1"},
               {"volumes",
                {{{"name", "data"}, {"target", "/data"}},
                 {{"name", "cache"}, {"target", "/c"}, {"mode", "rw"}}}},
               {"output", false}};
  EXPECT_EQ(json::parse(seen[0].body), want) << seen[0].body;
}

TEST(ApiClientVerbs, SubmitSendsStdinWithTheRequestAndPrintsJson) {
  std::string answer = task_json("gen-7", nullptr);
  FakeDaemon daemon({{http_answer(201, answer)}});
  auto r = run_clawcage(
      {"submit", "--socket", daemon.socket_path(), "--stdin-file", "-", "--json", "--", "cat"}, 30,
      false, "line one\nline two\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, answer + "\n");
  auto seen = daemon.requests();
  ASSERT_EQ(seen.size(), 1u);
  json body = json::parse(seen[0].body);
  EXPECT_EQ(body["stdin"], "line one\nline two\n");
  EXPECT_EQ(body["agent"], "default");
  EXPECT_EQ(body["command"], json({"cat"}));
  EXPECT_FALSE(body.contains("output"));
}

TEST(ApiClientVerbs, SubmitRefusesRunOnlyFlags) {
  FakeDaemon daemon({});
  auto ro = run_clawcage(
      {"submit", "--socket", daemon.socket_path(), "--ro", "/src:/src", "--", "true"}, 30, false);
  EXPECT_EQ(ro.exit_code, 125);
  EXPECT_EQ(ro.err,
            "clawcage submit: --ro: the daemon mounts named volumes: use --volume NAME:TARGET\n");
  auto out = run_clawcage(
      {"submit", "--socket", daemon.socket_path(), "--output", "/tmp/o", "--", "true"}, 30, false);
  EXPECT_EQ(out.exit_code, 125);
  EXPECT_NE(out.err.find("the daemon gives every task its own output dir"), std::string::npos)
      << out.err;
  auto vol = run_clawcage(
      {"submit", "--socket", daemon.socket_path(), "--volume", "data:/d:exec", "--", "true"}, 30,
      false);
  EXPECT_EQ(vol.exit_code, 125);
  EXPECT_EQ(vol.err, "clawcage submit: --volume: expected NAME:TARGET[:ro|rw]: \"data:/d:exec\"\n");
  auto pids = run_clawcage(
      {"submit", "--socket", daemon.socket_path(), "--pids", "many", "--", "true"}, 30, false);
  EXPECT_EQ(pids.exit_code, 125);
  EXPECT_NE(pids.err.find("--pids: expected a non-negative integer"), std::string::npos);
  auto none = run_clawcage({"submit", "--socket", daemon.socket_path()}, 30, false);
  EXPECT_EQ(none.exit_code, 125);
  EXPECT_NE(none.err.find("command: required"), std::string::npos) << none.err;
  EXPECT_TRUE(daemon.requests().empty());
}

TEST(ApiClientVerbs, ServerAndConnectionErrors) {
  FakeDaemon daemon({{http_answer(409, R"({"error":"id t1 is taken by a different request"})")}});
  auto r = run_clawcage({"submit", "--socket", daemon.socket_path(), "--id", "t1", "--", "true"},
                        30, false);
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "clawcage submit: HTTP 409: id t1 is taken by a different request\n");

  std::string dir = make_temp_dir("verbs-nodaemon");
  auto gone = run_clawcage({"ps", "--socket", dir + "/api.sock"}, 30, false);
  EXPECT_EQ(gone.exit_code, 125);
  EXPECT_EQ(gone.err, "clawcage ps: cannot reach the clawcage daemon at " + dir +
                          "/api.sock: No such file or directory (is `clawcage daemon` running?)\n");
  remove_tree(dir);
}

TEST(ApiClientVerbs, WaitPassesTheExitCodeThrough) {
  json exited = {{"cause", "exited"}, {"exit_code", 42}, {"error", ""}, {"cleanup_error", ""}};
  json signaled = {{"cause", "signaled"}, {"exit_code", 137}, {"signal", 9}};
  json spawn = {{"cause", "spawn_failed"}, {"exit_code", 127}, {"error", "exec nope: not found"}};
  json lost = {{"cause", "lost"}, {"exit_code", 0}, {"error", "the daemon restarted"}};
  FakeDaemon daemon({{http_answer(200, task_json("t1", exited))},
                     {http_answer(200, task_json("t2", signaled))},
                     {http_answer(200, task_json("t3", spawn))},
                     {http_answer(200, task_json("t4", lost))},
                     {http_answer(408, R"({"error":"timed out"})")},
                     {http_answer(200, task_json("t6", exited))}});
  const std::string& s = daemon.socket_path();
  auto a = run_clawcage({"wait", "--socket", s, "t1"}, 30, false);
  EXPECT_EQ(a.exit_code, 42);
  EXPECT_EQ(a.out, "");
  EXPECT_EQ(a.err, "");
  EXPECT_EQ(run_clawcage({"wait", "--socket", s, "t2"}, 30, false).exit_code, 137);
  auto c = run_clawcage({"wait", "--socket", s, "t3"}, 30, false);
  EXPECT_EQ(c.exit_code, 127);
  EXPECT_EQ(c.err, "clawcage wait: exec nope: not found\n");
  auto d = run_clawcage({"wait", "--socket", s, "t4"}, 30, false);
  EXPECT_EQ(d.exit_code, 125);
  EXPECT_EQ(d.err, "clawcage wait: task t4 was lost: the daemon restarted\n");
  auto e = run_clawcage({"wait", "--socket", s, "--timeout", "2", "t5"}, 30, false);
  EXPECT_EQ(e.exit_code, 124);
  EXPECT_EQ(e.err, "clawcage wait: t5: still running after 2s\n");
  auto f = run_clawcage({"wait", "--socket", s, "--json", "t6"}, 30, false);
  EXPECT_EQ(f.exit_code, 42);
  EXPECT_EQ(json::parse(f.out)["id"], "t6");
  auto seen = daemon.requests();
  ASSERT_EQ(seen.size(), 6u);
  EXPECT_EQ(seen[0].target, "/v1/tasks/t1/wait");
  EXPECT_EQ(seen[4].target, "/v1/tasks/t5/wait?timeout=2");
}

TEST(ApiClientVerbs, LogsFollowWritesTheBytes) {
  std::string bytes("a\0b\xff\n", 5);
  FakeDaemon daemon(
      {{chunked_head(200), chunk("started\n"), chunk(bytes), last_chunk()},
       {http_answer(200, "err\n", {"Content-Type: text/plain", "X-Clawcage-Truncated: true"})}});
  auto f = run_clawcage({"logs", "--socket", daemon.socket_path(), "-f", "t1"}, 30, false);
  EXPECT_EQ(f.exit_code, 0) << f.err;
  EXPECT_EQ(f.out, "started\n" + bytes);
  auto e = run_clawcage({"logs", "--socket", daemon.socket_path(), "--stderr", "t1"}, 30, false);
  EXPECT_EQ(e.exit_code, 0) << e.err;
  EXPECT_EQ(e.out, "err\n");
  EXPECT_NE(e.err.find("truncated"), std::string::npos);
  auto seen = daemon.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].target, "/v1/tasks/t1/logs?stream=stdout&follow=1");
  EXPECT_EQ(seen[1].target, "/v1/tasks/t1/logs?stream=stderr");
}

TEST(ApiClientVerbs, PsCancelRm) {
  json exited = {{"cause", "killed"}, {"exit_code", 137}};
  std::string list =
      "{\"tasks\": [" + task_json("t2", nullptr) + "," + task_json("t1", exited) + "]}";
  FakeDaemon daemon({{http_answer(200, list)},
                     {http_answer(200, list)},
                     {http_answer(202, task_json("t2", nullptr))},
                     {http_answer(204, "", {})},
                     {http_answer(409, R"({"error":"task t2 has not ended"})")}});
  const std::string& s = daemon.socket_path();
  auto table = run_clawcage(
      {"ps", "--socket", s, "--state", "exited", "--agent", "a b", "--limit", "5"}, 30, false);
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(table.out.substr(0, table.out.find('\n')),
            "ID   AGENT   STATE    TIER     CAUSE    CODE   AGE");
  EXPECT_NE(table.out.find("\nt2   a       queued   strict   -        -      "), std::string::npos)
      << table.out;
  EXPECT_NE(table.out.find("\nt1   a       exited   strict   killed   137    "), std::string::npos)
      << table.out;
  auto js = run_clawcage({"ps", "--socket", s, "--json"}, 30, false);
  EXPECT_EQ(js.exit_code, 0) << js.err;
  EXPECT_EQ(json::parse(js.out).size(), 2u);
  EXPECT_EQ(run_clawcage({"kill", "--socket", s, "-s", "TERM", "t2"}, 30, false).exit_code, 0);
  EXPECT_EQ(run_clawcage({"rm", "--socket", s, "-f", "t1"}, 30, false).exit_code, 0);
  auto busy = run_clawcage({"rm", "--socket", s, "t2"}, 30, false);
  EXPECT_EQ(busy.exit_code, 125);
  EXPECT_EQ(busy.err, "clawcage rm: HTTP 409: task t2 has not ended\n");
  auto seen = daemon.requests();
  ASSERT_EQ(seen.size(), 5u);
  EXPECT_EQ(seen[0].target, "/v1/tasks?state=exited&agent=a%20b&limit=5");
  EXPECT_EQ(seen[2].method, "POST");
  EXPECT_EQ(seen[2].target, "/v1/tasks/t2/kill");
  EXPECT_EQ(json::parse(seen[2].body), json({{"signal", "TERM"}}));
  EXPECT_EQ(seen[3].method, "DELETE");
  EXPECT_EQ(seen[3].target, "/v1/tasks/t1?force=1");
  EXPECT_EQ(seen[4].target, "/v1/tasks/t2");
}

}  // namespace
}  // namespace clawcage::test
