#include "orchestrator/task.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace clawcage::orchestrator {
namespace {

using nlohmann::json;

const char* kFull = R"({
  "id": "t-1.a_b",
  "agent": "agent-7",
  "image": "busybox:latest",
  "command": ["/bin/sh", "-c", "echo hi"],
  "tier": "strict",
  "env": ["A=1", "B=two=2"],
  "volumes": [{"name": "data", "target": "/data", "mode": "rw"},
              {"name": "models", "target": "/models"}],
  "output": false,
  "scratch": "64M",
  "memory": "256M",
  "pids": 32,
  "cpus": "0.5",
  "cpu_shares": 512,
  "cwd": "/work",
  "user": "1000:1000",
  "hostname": "box",
  "deadline": "30s",
  "stdin": "hello\n"
})";

// The message of the error parse_task_request gives for `body` ("" when it parses).
std::string error_of(const std::string& body) {
  auto r = parse_task_request(body);
  return r ? "" : r.error().message();
}

// kFull with `key` replaced by `value` (raw JSON), or removed when value is empty.
std::string full_with(const std::string& key, const std::string& value) {
  json j = json::parse(kFull);
  if (value.empty())
    j.erase(key);
  else
    j[key] = json::parse(value);
  return j.dump();
}

std::string minimal_with(const std::string& key, const std::string& value) {
  json j = {{"command", {"/bin/true"}}};
  j[key] = json::parse(value);
  return j.dump();
}

TEST(TaskRequest, FullRequestParses) {
  auto r = parse_task_request(kFull);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->id, "t-1.a_b");
  EXPECT_EQ(r->agent, "agent-7");
  EXPECT_EQ(r->image, "busybox:latest");
  EXPECT_EQ(r->rootfs, "");
  EXPECT_EQ(r->command, (std::vector<std::string>{"/bin/sh", "-c", "echo hi"}));
  EXPECT_EQ(r->tier, "strict");
  EXPECT_EQ(r->env, (std::vector<std::string>{"A=1", "B=two=2"}));
  ASSERT_EQ(r->volumes.size(), 2u);
  EXPECT_EQ(r->volumes[0].name, "data");
  EXPECT_EQ(r->volumes[0].target, "/data");
  EXPECT_FALSE(r->volumes[0].readonly);
  EXPECT_EQ(r->volumes[1].name, "models");
  EXPECT_TRUE(r->volumes[1].readonly);
  EXPECT_FALSE(r->output);
  EXPECT_EQ(r->scratch, "64M");
  EXPECT_EQ(r->memory, "256M");
  EXPECT_EQ(r->pids, 32);
  EXPECT_EQ(r->cpus, "0.5");
  EXPECT_EQ(r->cpu_shares, 512);
  EXPECT_EQ(r->cwd, "/work");
  EXPECT_EQ(r->user, "1000:1000");
  EXPECT_EQ(r->hostname, "box");
  EXPECT_EQ(r->deadline_ms, 30000);
  EXPECT_EQ(r->stdin_data, "hello\n");
}

TEST(TaskRequest, MinimalRequestTakesDefaults) {
  auto r = parse_task_request(R"({"command": ["/bin/true"]})");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->id, "");
  EXPECT_EQ(r->agent, "default");
  EXPECT_TRUE(r->output);
  EXPECT_FALSE(r->pids);
  EXPECT_FALSE(r->cpu_shares);
  EXPECT_EQ(r->deadline_ms, 0);
  EXPECT_TRUE(r->volumes.empty());
}

TEST(TaskRequest, CpusMayBeANumber) {
  auto r = parse_task_request(minimal_with("cpus", "1.5"));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->cpus, "1.5");
  r = parse_task_request(minimal_with("cpus", "2"));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->cpus, "2");
}

TEST(TaskRequest, RootfsInsteadOfImage) {
  auto r = parse_task_request(full_with("image", ""));  // neither: the built-in image
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->image, "");
  json j = json::parse(full_with("image", ""));
  j["rootfs"] = "/srv/rootfs";
  r = parse_task_request(j.dump());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->rootfs, "/srv/rootfs");
}

TEST(TaskRequest, NotJsonOrNotAnObject) {
  EXPECT_NE(error_of("{").find("request body: not valid JSON"), std::string::npos) << error_of("{");
  EXPECT_NE(error_of("").find("request body: not valid JSON"), std::string::npos);
  EXPECT_NE(error_of("[1]").find("request body"), std::string::npos);
  EXPECT_NE(error_of("\"x\"").find("request body"), std::string::npos);
}

struct BadInput {
  std::string body;
  std::string expect;  // a part of the message (the field and its complaint)
};

TEST(TaskRequest, CommandIsRequiredOnlyWithoutAnImage) {
  auto none = parse_task_request(R"({"agent":"a"})");
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message().find("command: required"), std::string::npos);
  auto image = parse_task_request(R"({"image":"demo:1"})");
  ASSERT_TRUE(image) << image.error().message();
  EXPECT_TRUE(image->command.empty());
  // Stored and read back (the journal keeps the canonical text) without a command.
  auto again = parse_task_request(request_to_json(*image));
  ASSERT_TRUE(again) << again.error().message();
}

TEST(TaskRequest, BadInputNamesTheField) {
  std::vector<BadInput> cases = {
      {full_with("frobnicate", "1"), "frobnicate: unknown field"},
      {full_with("command", "[]"), "command: must not be empty"},
      {full_with("command", "\"/bin/true\""), "command: expected an array"},
      {full_with("command", R"(["a", "b", 3])"), "command[2]: expected a string"},
      {full_with("id", "\"\""), "id: "},
      {full_with("id", "\"-bad\""), "id: "},
      {full_with("id", "\"a/b\""), "id: "},
      {full_with("id", "7"), "id: expected a string"},
      {full_with("agent", "\"\""), "agent: must be 1 to 128 bytes"},
      {full_with("agent", "\"" + std::string(129, 'a') + "\""), "agent: must be 1 to 128 bytes"},
      {full_with("agent", R"("a\u0001b")"), "agent: must not hold control characters"},
      {full_with("agent", R"("a\nb")"), "agent: must not hold control characters"},
      {full_with("agent", "[]"), "agent: expected a string"},
      {full_with("image", "1"), "image: expected a string"},
      {minimal_with("rootfs", "false"), "rootfs: expected a string"},
      {full_with("rootfs", "\"/srv/rootfs\""), "rootfs: give either image or rootfs"},
      {full_with("tier", "\"gvisor2\""), "tier: "},
      {full_with("tier", "\"\""), "tier: "},
      {full_with("tier", "1"), "tier: expected a string"},
      {full_with("env", R"(["A=1", 2])"), "env[1]: expected a string"},
      {full_with("env", R"(["NOEQUALS"])"), "env[0]: expected NAME=VALUE"},
      {full_with("env", "{}"), "env: expected an array"},
      {full_with("volumes", "{}"), "volumes: expected an array"},
      {full_with("volumes", "[1]"), "volumes[0]: expected an object"},
      {full_with("volumes", R"([{"name": "d", "target": "/d", "mode": "x"}])"),
       "volumes[0].mode: expected \"ro\" or \"rw\""},
      {full_with("volumes", R"([{"name": "d", "target": "/d", "mode": 1}])"),
       "volumes[0].mode: expected \"ro\" or \"rw\""},
      {full_with("volumes", R"([{"name": "d", "target": "/d"}, {"name": "e", "target": "rel"}])"),
       "volumes[1].target: expected an absolute path"},
      {full_with("volumes", R"([{"name": "", "target": "/d"}])"),
       "volumes[0].name: must not be empty"},
      {full_with("volumes", R"([{"target": "/d"}])"), "volumes[0].name: required"},
      {full_with("volumes", R"([{"name": "d"}])"), "volumes[0].target: required"},
      {full_with("volumes", R"([{"name": "d", "target": "/d", "ro": true}])"),
       "volumes[0].ro: unknown field"},
      {full_with("output", "\"yes\""), "output: expected true or false"},
      {full_with("scratch", "64"), "scratch: expected a string"},
      {full_with("scratch", "\"64Q\""), "scratch: "},
      {full_with("memory", "\"-5M\""), "memory: must not be negative"},
      {full_with("memory", "\"lots\""), "memory: "},
      {full_with("pids", "0"), "pids: must be positive"},
      {full_with("pids", "-3"), "pids: must be positive"},
      {full_with("pids", "1.5"), "pids: expected an integer"},
      {full_with("pids", "\"10\""), "pids: expected an integer"},
      {full_with("pids", "18446744073709551615"), "pids: out of range"},
      {full_with("cpu_shares", "0"), "cpu_shares: must be positive"},
      {full_with("cpu_shares", "\"2\""), "cpu_shares: expected an integer"},
      {full_with("cpus", "\"0\""), "cpus: expected a positive number"},
      {full_with("cpus", "0"), "cpus: expected a positive number"},
      {full_with("cpus", "-1"), "cpus: expected a positive number"},
      {full_with("cpus", "\"half\""), "cpus: expected a positive number"},
      {full_with("cpus", "\"0x1\""), "cpus: expected a positive number"},
      {full_with("cpus", "\"1 \""), "cpus: expected a positive number"},
      {full_with("cpus", "true"), "cpus: expected a string or a number"},
      {full_with("cwd", "1"), "cwd: expected a string"},
      {full_with("user", "1000"), "user: expected a string"},
      {full_with("hostname", "null"), "hostname: expected a string"},
      {full_with("deadline", "30"), "deadline: expected a string"},
      {full_with("deadline", "\"0s\""), "deadline: "},
      {full_with("deadline", "\"soon\""), "deadline: "},
      {full_with("deadline", "\"5y\""), "deadline: "},
      {full_with("stdin", "[]"), "stdin: expected a string"},
  };
  for (const auto& c : cases) {
    std::string message = error_of(c.body);
    EXPECT_NE(message, "") << "accepted: " << c.body;
    EXPECT_NE(message.find(c.expect), std::string::npos)
        << "message \"" << message << "\" lacks \"" << c.expect << "\" for " << c.body;
  }
}

TEST(TaskRequest, IdErrorNamesIdNotTask) {
  std::string message = error_of(full_with("id", "\"../x\""));
  EXPECT_EQ(message.rfind("id: ", 0), 0u) << message;
}

TEST(TaskRequest, CanonicalJsonIsStable) {
  for (const std::string& body :
       {std::string(kFull), std::string(R"({"command": ["/bin/true"]})"),
        minimal_with("cpus", "0.25"), minimal_with("deadline", "\"1.5s\""),
        minimal_with("volumes", R"([{"target": "/v", "name": "v"}])")}) {
    auto first = parse_task_request(body);
    ASSERT_TRUE(first) << first.error().message();
    std::string canonical = request_to_json(*first);
    auto second = parse_task_request(canonical);
    ASSERT_TRUE(second) << second.error().message() << " for " << canonical;
    EXPECT_EQ(request_to_json(*second), canonical);
    EXPECT_EQ(request_to_json(*first), canonical);  // deterministic
  }
}

TEST(TaskRequest, CanonicalJsonIgnoresKeyOrderAndDefaults) {
  auto a = parse_task_request(R"({"command": ["x"], "agent": "default", "output": true,
                                   "env": ["A=1"]})");
  auto b = parse_task_request(R"({"env": ["A=1"], "command": ["x"]})");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(request_to_json(*a), request_to_json(*b));
  auto c = parse_task_request(R"({"env": ["A=2"], "command": ["x"]})");
  ASSERT_TRUE(c);
  EXPECT_NE(request_to_json(*a), request_to_json(*c));
}

TEST(TaskRequest, CanonicalJsonOmitsEmptyFields) {
  auto r = parse_task_request(R"({"command": ["/bin/true"]})");
  ASSERT_TRUE(r);
  json j = json::parse(request_to_json(*r));
  EXPECT_EQ(j, json::parse(R"({"agent": "default", "command": ["/bin/true"]})"));
}

TEST(TaskRequest, StateNamesRoundTrip) {
  for (TaskState s : {TaskState::queued, TaskState::admitted, TaskState::created,
                      TaskState::started, TaskState::exited, TaskState::reaped})
    EXPECT_EQ(parse_state(state_name(s)), s);
  EXPECT_FALSE(parse_state("running"));
  EXPECT_FALSE(parse_state(""));
  EXPECT_TRUE(is_final(TaskState::exited));
  EXPECT_FALSE(is_final(TaskState::started));
}

TaskResult sample_result() {
  TaskResult r;
  r.cause = "killed";
  r.exit_code = 137;
  r.signal = 9;
  r.killed_by = "operator";
  r.error = "";
  r.wall_ms = 12.5;
  r.cpu_usec = 800;
  r.memory_peak_bytes = 1200000;
  r.oom_kills = 1;
  r.stdout_bytes = 12;
  r.stderr_bytes = 3;
  r.stdout_truncated = true;
  r.stderr_truncated = false;
  r.cleanup_error = "cgroup busy";
  return r;
}

TEST(TaskJson, ResultRoundTrip) {
  TaskResult r = sample_result();
  std::string text = result_to_json(r);
  json j = json::parse(text);
  for (const char* key : {"cause", "exit_code", "signal", "killed_by", "error", "wall_ms",
                          "cpu_usec", "memory_peak_bytes", "oom_kills", "stdout_bytes",
                          "stderr_bytes", "stdout_truncated", "stderr_truncated", "cleanup_error"})
    EXPECT_TRUE(j.contains(key)) << key;
  auto back = result_from_json(text);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(result_to_json(*back), text);
  EXPECT_EQ(back->cause, "killed");
  EXPECT_EQ(back->exit_code, 137);
  EXPECT_EQ(back->wall_ms, 12.5);
  EXPECT_EQ(back->memory_peak_bytes, 1200000u);
  EXPECT_TRUE(back->stdout_truncated);
  EXPECT_EQ(back->cleanup_error, "cgroup busy");
}

TEST(TaskJson, ResultFromBadJsonFails) {
  EXPECT_FALSE(result_from_json("nope"));
  EXPECT_FALSE(result_from_json("[]"));
  auto r = result_from_json(R"({"exit_code": "zero"})");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("exit_code"), std::string::npos);
  r = result_from_json(R"({"cpu_usec": -1})");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("cpu_usec"), std::string::npos);
}

TEST(TaskJson, TaskWithoutResult) {
  Task t;
  t.id = "t1";
  t.agent = "a";
  t.seq = 7;
  t.state = TaskState::queued;
  t.request_json = R"({"agent":"a","command":["/bin/true"],"id":"t1"})";
  t.submitted_at = 1763870000.25;
  json j = json::parse(task_to_json(t));
  EXPECT_EQ(j["id"], "t1");
  EXPECT_EQ(j["agent"], "a");
  EXPECT_EQ(j["state"], "queued");
  EXPECT_EQ(j["seq"], 7);
  EXPECT_EQ(j["tier"], "");
  EXPECT_TRUE(j["result"].is_null());
  ASSERT_TRUE(j["request"].is_object());
  EXPECT_EQ(j["request"]["command"][0], "/bin/true");
  EXPECT_EQ(j["submitted_at"], 1763870000.25);
  EXPECT_TRUE(j["admitted_at"].is_number());
  EXPECT_EQ(j["admitted_at"], 0);
  EXPECT_EQ(j["reaped_at"], 0);
  EXPECT_EQ(j["pid"], 0);
  EXPECT_EQ(j["kill_requested_by"], "");
  EXPECT_EQ(j["stuck"], false);
}

TEST(TaskJson, TaskWithResult) {
  Task t;
  t.id = "t2";
  t.agent = "b";
  t.state = TaskState::exited;
  t.tier = "container";
  t.request_json = R"({"command":["x"]})";
  t.pid = 4242;
  t.kill_requested_by = "operator";
  t.stuck = true;
  t.result = sample_result();
  json j = json::parse(task_to_json(t));
  EXPECT_EQ(j["state"], "exited");
  EXPECT_EQ(j["tier"], "container");
  EXPECT_EQ(j["pid"], 4242);
  EXPECT_EQ(j["kill_requested_by"], "operator");
  EXPECT_EQ(j["stuck"], true);
  ASSERT_TRUE(j["result"].is_object());
  EXPECT_EQ(j["result"]["cause"], "killed");
  EXPECT_EQ(j["result"]["killed_by"], "operator");
  EXPECT_EQ(j["result"], json::parse(result_to_json(*t.result)));
}

TEST(TaskJson, NowSecondsIsTheWallClock) {
  double a = now_seconds();
  EXPECT_GT(a, 1.6e9);
  EXPECT_LE(a, now_seconds());
  EXPECT_NEAR(a, static_cast<double>(time(nullptr)), 2.0);
}

}  // namespace
}  // namespace clawcage::orchestrator
