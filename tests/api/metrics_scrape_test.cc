// The daemon's metrics as an operator sees them: scraped by a real Prometheus server (Debian's,
// unpacked by scripts/setup.sh) over the daemon's TCP metrics listener, and queried through
// Prometheus's HTTP API with PromQL.
#include <curl/curl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "api/client.h"
#include "orchestrator/metrics.h"
#include "support/daemon_process.h"
#include "support/run_clawcage.h"

namespace clawcage::test {
namespace {

using json = nlohmann::json;

const std::string kPrometheus = "/var/cache/clawcage/tools/prometheus/usr/bin/prometheus";

size_t append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// GET over TCP; "" when there is no 200 answer.
std::string http_get(const std::string& url) {
  CURL* c = curl_easy_init();
  std::string body;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
  long status = 0;
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(c);
  return status == 200 ? body : "";
}

std::string escape_query(const std::string& q) {
  CURL* c = curl_easy_init();
  char* e = curl_easy_escape(c, q.c_str(), static_cast<int>(q.size()));
  std::string out = e;
  curl_free(e);
  curl_easy_cleanup(c);
  return out;
}

// A Prometheus server of the test's own, on loopback, scraping one target every second.
class PrometheusServer {
 public:
  bool start(const std::string& target) {
    dir_ = make_temp_dir("prometheus");
    port_ = free_loopback_port();
    std::ofstream(dir_ + "/prometheus.yml")
        << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        << "scrape_configs:\n  - job_name: clawcage\n    static_configs:\n"
        << "      - targets: ['" << target << "']\n";
    pid_ = fork();
    if (pid_ == 0) {
      std::string log = dir_ + "/prometheus.log";
      freopen(log.c_str(), "w", stdout);
      freopen(log.c_str(), "a", stderr);
      execl(kPrometheus.c_str(), "prometheus",
            ("--config.file=" + dir_ + "/prometheus.yml").c_str(),
            ("--storage.tsdb.path=" + dir_ + "/data").c_str(),
            ("--web.listen-address=127.0.0.1:" + std::to_string(port_)).c_str(), nullptr);
      _exit(127);
    }
    for (int i = 0; i < 300; ++i) {
      if (!http_get(url("/-/ready")).empty()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  ~PrometheusServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int st;
      for (int i = 0; i < 100 && waitpid(pid_, &st, WNOHANG) == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      kill(pid_, SIGKILL);
      waitpid(pid_, &st, 0);
    }
    if (!dir_.empty()) remove_tree(dir_);
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  // An instant PromQL query: label set (as "k=v,...") → value.
  std::map<std::string, double> query(const std::string& promql) {
    std::map<std::string, double> out;
    json j =
        json::parse(http_get(url("/api/v1/query?query=" + escape_query(promql))), nullptr, false);
    if (j.is_discarded() || j.value("status", "") != "success") return out;
    for (const auto& r : j["data"]["result"]) {
      std::string key;
      for (auto it = r["metric"].begin(); it != r["metric"].end(); ++it)
        key += (key.empty() ? "" : ",") + it.key() + "=" + it.value().get<std::string>();
      out[key] = std::stod(r["value"][1].get<std::string>());
    }
    return out;
  }
  std::string log() const { return read_text(dir_ + "/prometheus.log"); }

 private:
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

std::vector<std::string> sh(const std::string& script) {
  return {"/bin/sh", "-c", script};
}

TEST(MetricsScrape, PrometheusCountsEveryEndingByCause) {
  ASSERT_EQ(access(kPrometheus.c_str(), X_OK), 0) << kPrometheus << ": run scripts/setup.sh";
  int metrics_port = free_loopback_port();
  std::string target = "127.0.0.1:" + std::to_string(metrics_port);
  DaemonProcess d;
  d.write_config(json{{"metrics_listen", target}}.dump());
  ASSERT_TRUE(d.start());
  // The TCP listener serves /metrics and nothing else.
  EXPECT_NE(http_get("http://" + target + "/metrics").find("clawcage_tasks"), std::string::npos);
  EXPECT_EQ(http_get("http://" + target + "/v1/tasks"), "");
  PrometheusServer prom;
  ASSERT_TRUE(prom.start(target)) << prom.log();

  // A few hundred tasks with mixed endings.
  api::Client client(d.socket_path());
  struct Kind {
    const char* name;
    int count;
    json request;
  };
  std::vector<Kind> kinds = {
      {"ok", 150, {{"command", {"/bin/true"}}}},
      {"err", 60, {{"command", sh("exit 3")}}},
      {"slow", 20, {{"deadline", "300ms"}, {"command", {"/bin/sleep", "30"}}}},
      {"oom", 6, {{"memory", "32M"}, {"command", sh("x=a; while true; do x=$x$x; done")}}},
      {"op", 20, {{"command", {"/bin/sleep", "30"}}}}};
  std::vector<std::string> ids;
  for (auto& k : kinds)
    for (int i = 0; i < k.count; ++i) {
      json req = k.request;
      req["id"] = std::string(k.name) + std::to_string(i);
      req["agent"] = std::string("agent-") + k.name;
      auto r = client.request("POST", "/v1/tasks", req.dump());
      ASSERT_TRUE(r && r->status == 201) << (r ? r->body : r.error().message());
      ids.push_back(req["id"]);
    }
  for (int i = 0; i < 20; ++i) {
    std::string id = "op" + std::to_string(i);
    for (int t = 0; t < 1500; ++t) {
      auto g = client.request("GET", "/v1/tasks/" + id);
      if (g && json::parse(g->body).value("state", "") == "started") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    (void)client.request("POST", "/v1/tasks/" + id + "/kill");
  }
  for (const auto& id : ids) {
    auto w = client.request("GET", "/v1/tasks/" + id + "/wait?timeout=120");
    ASSERT_TRUE(w && w->status == 200) << id;
  }

  // (Prometheus drops empty labels: killed_by="" is no label.)
  std::map<std::string, double> want = {{"cause=exited,exit_code=zero", 150},
                                        {"cause=exited,exit_code=nonzero", 60},
                                        {"cause=timeout,exit_code=nonzero,killed_by=deadline", 20},
                                        {"cause=oom_killed,exit_code=nonzero", 6},
                                        {"cause=killed,exit_code=nonzero,killed_by=operator", 20}};
  std::map<std::string, double> got;
  for (int i = 0; i < 300 && got != want; ++i) {
    got = prom.query("sum by (cause, exit_code, killed_by) (clawcage_task_exits_total)");
    if (got != want) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(got, want) << prom.log();
  auto changes = prom.query("sum by (operation) (clawcage_container_changes_total)");
  EXPECT_EQ(changes["operation=create"], 256);
  EXPECT_EQ(changes["operation=delete"], 256);
  auto leaked = prom.query("sum(clawcage_leaked_kernel_resources)");
  EXPECT_EQ(leaked[""], 0);
  EXPECT_TRUE(d.leftovers().empty());
}

// Thousands of agent names cannot explode the series count: labels are hashes, capped.
TEST(MetricsScrape, AgentLabelsStayUnderTheCap) {
  DaemonProcess d;
  d.write_config(json{{"metrics_agent_cap", 10}}.dump());
  ASSERT_TRUE(d.start());
  api::Client client(d.socket_path());
  for (int i = 0; i < 120; ++i) {
    json req = {{"id", "a" + std::to_string(i)},
                {"agent", "customer-" + std::to_string(i) + "-\"quoted\" name"},
                {"command", {"/bin/sleep", "30"}}};
    auto r = client.request("POST", "/v1/tasks", req.dump());
    ASSERT_TRUE(r && r->status == 201) << (r ? r->body : r.error().message());
  }
  std::string text;
  size_t series = 0;
  double running = 0;
  for (int t = 0; t < 1500 && running < 120; ++t) {
    auto m = client.request("GET", "/metrics");
    ASSERT_TRUE(m && m->status == 200);
    text = m->body;
    auto samples = orchestrator::parse_samples(text);
    series = std::count_if(samples.begin(), samples.end(), [](const orchestrator::Sample& s) {
      return s.name == "clawcage_running_tasks";
    });
    running = orchestrator::sum_samples(samples, "clawcage_running_tasks");
    if (running < 120) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(running, 120) << text;
  EXPECT_LE(series, 11u) << "10 hashes and \"other\"\n" << text;
  EXPECT_EQ(text.find("customer-"), std::string::npos) << "agent names never reach metrics";
  for (int i = 0; i < 120; ++i)
    (void)client.request("DELETE", "/v1/tasks/a" + std::to_string(i) + "?force=1");
  for (int i = 0; i < 120; ++i)
    (void)client.request("GET", "/v1/tasks/a" + std::to_string(i) + "/wait?timeout=60");
  EXPECT_TRUE(d.leftovers().empty());
}

}  // namespace
}  // namespace clawcage::test
