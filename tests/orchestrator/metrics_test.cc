// The Prometheus text format as the daemon writes it, and the agent label cap.
#include "orchestrator/metrics.h"

#include <gtest/gtest.h>

#include <set>

namespace clawcage::orchestrator {
namespace {

TEST(Metrics, CountersGaugesAndEscapedLabels) {
  Metrics m;
  m.counter("t_changes_total", "Changes.");
  m.gauge("t_tasks", "Tasks.");
  m.add("t_changes_total", {{"operation", "create"}, {"tier", "strict"}});
  m.add("t_changes_total", {{"operation", "create"}, {"tier", "strict"}}, 2);
  m.set("t_tasks", {{"state", "a\"b\\c\nd"}}, 7);
  m.set("t_tasks", {}, 1.5);
  std::string text = m.render();
  EXPECT_NE(text.find("# HELP t_changes_total Changes.\n# TYPE t_changes_total counter\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("t_changes_total{operation=\"create\",tier=\"strict\"} 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("t_tasks{state=\"a\\\"b\\\\c\\nd\"} 7\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_tasks 1.5\n"), std::string::npos) << text;
  m.reset("t_tasks");
  EXPECT_EQ(m.series("t_tasks"), 0u);
  EXPECT_EQ(m.series("t_changes_total"), 1u);
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  Metrics m;
  m.histogram("t_seconds", "Latency.", {0.1, 1});
  for (double v : {0.05, 0.5, 0.7, 3.0}) m.observe("t_seconds", {{"tier", "x"}}, v);
  std::string text = m.render();
  EXPECT_NE(text.find("t_seconds_bucket{tier=\"x\",le=\"0.1\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_seconds_bucket{tier=\"x\",le=\"1\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_seconds_bucket{tier=\"x\",le=\"+Inf\"} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_seconds_sum{tier=\"x\"} 4.25\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_seconds_count{tier=\"x\"} 4\n"), std::string::npos) << text;
}

TEST(Metrics, AgentLabelsAreHashedAndCapped) {
  BoundedLabels labels(50);
  std::set<std::string> seen;
  for (int i = 0; i < 5000; ++i) seen.insert(labels.label("agent-" + std::to_string(i)));
  EXPECT_EQ(seen.size(), 51u) << "50 hashes and \"other\"";
  EXPECT_TRUE(seen.count("other"));
  EXPECT_EQ(labels.label("agent-0"), labels.label("agent-0"));
  std::string l = labels.label("agent-1");
  EXPECT_EQ(l.size(), 8u);
  EXPECT_EQ(l.find("agent"), std::string::npos) << "the name itself never reaches a label";
}

TEST(Metrics, ParsedBackAsRendered) {
  Metrics m;
  m.counter("t_total", "T.");
  m.histogram("t_seconds", "S.", {1});
  m.add("t_total", {{"agent", "a\"b\\c\nd"}, {"tier", "x"}}, 2);
  m.add("t_total", {{"agent", "e"}, {"tier", "x"}}, 3);
  m.observe("t_seconds", {}, 0.5);
  auto samples = parse_samples(m.render() + "garbage{line\n");
  EXPECT_EQ(sum_samples(samples, "t_total"), 5);
  EXPECT_EQ(sum_samples(samples, "t_total", {{"agent", "a\"b\\c\nd"}}), 2);
  EXPECT_EQ(sum_samples(samples, "t_seconds_bucket", {{"le", "+Inf"}}), 1);
  EXPECT_EQ(sum_samples(samples, "t_seconds_count"), 1);
  EXPECT_EQ(sum_samples(samples, "t_total", {{"agent", ""}}), 0) << "empty means absent";
}

}  // namespace
}  // namespace clawcage::orchestrator
