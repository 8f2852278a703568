// deploy/: the Prometheus config and rules pass promtool (config, rules, and the alert unit
// tests in rules_test.yml), and every metric the dashboard and the rules name is one the
// daemon serves or a recording rule defines.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "support/daemon_process.h"
#include "support/run_clawcage.h"

namespace clawcage::test {
namespace {

const std::string kPromtool = "/var/cache/clawcage/tools/prometheus/usr/bin/promtool";
const std::string kDeploy = std::string(CLAWCAGE_SOURCE_DIR) + "/deploy";

int run(const std::string& command, std::string& out) {
  RunOutput r = run_shell(command + " 2>&1");
  out = r.out;
  return r.exit_code;
}

TEST(DeployPrometheus, PromtoolAcceptsConfigRulesAndAlertTests) {
  ASSERT_EQ(access(kPromtool.c_str(), X_OK), 0) << kPromtool << ": run scripts/setup.sh";
  std::string out;
  std::string dir = kDeploy + "/prometheus";
  EXPECT_EQ(run("cd " + dir + " && " + kPromtool + " check config prometheus.yml", out), 0) << out;
  EXPECT_EQ(run("cd " + dir + " && " + kPromtool + " check rules rules.yml", out), 0) << out;
  EXPECT_EQ(run("cd " + dir + " && " + kPromtool + " test rules rules_test.yml", out), 0) << out;
}

TEST(DeployPrometheus, DashboardAndRulesNameOnlyMetricsThatExist) {
  DaemonProcess d;
  ASSERT_TRUE(d.start());
  auto m = d.client().request("GET", "/metrics", "");
  ASSERT_TRUE(m && m->status == 200);
  std::set<std::string> known;
  std::istringstream in(m->body);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# TYPE ", 0) != 0) continue;
    std::istringstream words(line.substr(7));
    std::string name, type;
    words >> name >> type;
    known.insert(name);
    if (type == "histogram")
      for (const char* s : {"_bucket", "_sum", "_count"}) known.insert(name + s);
  }
  std::string rules = read_text(kDeploy + "/prometheus/rules.yml");
  std::regex record("record: ([a-z0-9_:]+)");
  for (std::sregex_iterator it(rules.begin(), rules.end(), record), end; it != end; ++it)
    known.insert((*it)[1]);

  std::regex metric("\\bclawcage[a-z0-9_:]*");
  auto check = [&](const std::string& where, const std::string& expr) {
    for (std::sregex_iterator it(expr.begin(), expr.end(), metric), end; it != end; ++it)
      EXPECT_TRUE(known.count(it->str())) << where << " names " << it->str() << ": " << expr;
  };
  std::regex expr_line("expr: *(.*)");
  for (std::sregex_iterator it(rules.begin(), rules.end(), expr_line), end; it != end; ++it)
    check("rules.yml", (*it)[1]);
  auto dash = nlohmann::json::parse(read_text(kDeploy + "/grafana/clawcage-dashboard.json"));
  ASSERT_TRUE(dash.contains("panels"));
  size_t exprs = 0;
  for (const auto& p : dash["panels"])
    for (const auto& t : p.value("targets", nlohmann::json::array())) {
      check("dashboard panel \"" + p.value("title", "") + "\"", t.value("expr", ""));
      ++exprs;
    }
  EXPECT_GE(exprs, 10u);
}

}  // namespace
}  // namespace clawcage::test
