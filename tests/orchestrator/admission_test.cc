// Fair queueing between agents and the kernel budget reader.
#include "orchestrator/admission.h"

#include <gtest/gtest.h>

#include <map>

#include "base/files.h"
#include "orchestrator/config.h"

namespace clawcage::orchestrator {
namespace {

TEST(FairQueue, RoundRobinBetweenAgents) {
  FairQueue q;
  for (int i = 0; i < 1000; ++i) q.push("big", "b" + std::to_string(i));
  for (int i = 0; i < 3; ++i) q.push("small", "s" + std::to_string(i));
  auto any = [](const std::string&) { return true; };
  // The small agent's three tasks come within the first six pops, not after 1000.
  std::vector<std::string> first;
  for (int i = 0; i < 6; ++i) first.push_back(*q.pop(any));
  EXPECT_EQ(first, (std::vector<std::string>{"b0", "s0", "b1", "s1", "b2", "s2"}));
  EXPECT_EQ(q.size(), 997u);
  EXPECT_EQ(q.size("small"), 0u);
}

TEST(FairQueue, SkipsAgentsAtQuotaWithoutLosingTheirPlace) {
  FairQueue q;
  q.push("a", "a1");
  q.push("a", "a2");
  q.push("b", "b1");
  auto not_a = [](const std::string& agent) { return agent != "a"; };
  EXPECT_EQ(*q.pop(not_a), "b1");
  EXPECT_FALSE(q.pop(not_a).has_value());
  auto any = [](const std::string&) { return true; };
  EXPECT_EQ(*q.pop(any), "a1");
  EXPECT_EQ(*q.pop(any), "a2");
  EXPECT_FALSE(q.pop(any).has_value());
  EXPECT_EQ(q.size(), 0u);
}

TEST(FairQueue, RemoveAndPushFront) {
  FairQueue q;
  q.push("a", "a1");
  q.push("a", "a2");
  q.push("b", "b1");
  EXPECT_TRUE(q.remove("a", "a1"));
  EXPECT_FALSE(q.remove("a", "a1"));
  EXPECT_TRUE(q.remove("b", "b1"));
  EXPECT_EQ(q.size(), 1u);
  q.push_front("a", "a0");
  auto any = [](const std::string&) { return true; };
  EXPECT_EQ(*q.pop(any), "a0");
  EXPECT_EQ(*q.pop(any), "a2");
}

TEST(HostBudget, ReadsTheKernelsFigures) {
  auto b = read_host_budget();
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_GT(b->pid_max, 0u);
  EXPECT_GT(b->threads, 0u);
  EXPECT_LT(b->threads, b->pid_max);
  EXPECT_GT(b->mem_total, b->mem_available);
  EXPECT_GT(b->fd_limit, b->fds_open);
}

TEST(DaemonConfig, TheDeployedExampleParses) {
  auto text = read_file(std::string(CLAWCAGE_SOURCE_DIR) + "/deploy/daemon.json");
  ASSERT_TRUE(text);
  auto c = parse_config(*text);
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->volumes.size(), 2u);
  EXPECT_TRUE(c->volumes[0].shared);
  EXPECT_EQ(c->volumes[1].agent, "planner");
  EXPECT_EQ(c->max_deadline_ms, 24 * 3600 * 1000);
}

TEST(DaemonConfig, BadConfigsNameTheField) {
  std::map<std::string, std::string> cases = {
      {R"({"frobnicate": 1})", "frobnicate"},
      {R"({"default_deadline": "2d", "max_deadline": "1h"})", "default_deadline"},
      {R"({"log_cap": 12})", "log_cap"},
      {R"({"journal_sync": "sometimes"})", "journal_sync"},
      {R"({"volumes": [{"name": "x", "path": "relative"}]})", "volumes[0].path"},
      {R"({"volumes": [{"name": "x", "path": "/a", "shared": true, "agent": "b"}]})",
       "volumes[0].agent"},
      {R"({"default_tier": "vm"})", "default_tier"},
      {R"({"data_dir": "var/lib"})", "absolute"},
      {"{", "not valid JSON"},
  };
  for (const auto& [json, field] : cases) {
    auto c = parse_config(json);
    ASSERT_FALSE(c) << json;
    EXPECT_NE(c.error().message().find(field), std::string::npos)
        << json << " -> " << c.error().message();
  }
}

TEST(DaemonConfig, VolumesMustExistAndBeUnique) {
  DaemonConfig c;
  c.volumes.push_back({"a", "/nonexistent-clawcage-volume", false, ""});
  auto r = check_config(c);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("volumes[0].path"), std::string::npos);
  c.volumes = {{"a", "/tmp", false, ""}, {"a", "/tmp", true, ""}};
  r = check_config(c);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("defined twice"), std::string::npos);
}

}  // namespace
}  // namespace clawcage::orchestrator
