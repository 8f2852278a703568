// The daemon's live page, loaded in headless Chromium (Debian's) from the metrics listener
// while tasks run: the figures it draws are the ones the API reports, and a screenshot is
// kept in <build>/test-artifacts/web-page.png.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "api/client.h"
#include "support/daemon_process.h"
#include "support/run_clawcage.h"

namespace clawcage::test {
namespace {

using json = nlohmann::json;

// Headless Chromium, as root (no sandbox), letting the page's timers run 6 s of virtual time.
std::string chromium(const std::string& args, const std::string& url) {
  return run_shell(
             "timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run "
             "--user-data-dir=$(mktemp -d) --virtual-time-budget=6000 " +
             args + " " + url + " 2>/dev/null")
      .out;
}

TEST(WebPage, ChartsShowWhatTheApiReports) {
  ASSERT_EQ(access("/usr/bin/chromium", X_OK), 0) << "chromium: run scripts/setup.sh";
  std::string listen = "127.0.0.1:" + std::to_string(free_loopback_port());
  DaemonProcess d;
  d.write_config(json{{"metrics_listen", listen}}.dump());
  ASSERT_TRUE(d.start());
  api::Client client(d.socket_path());
  auto submit = [&](const std::string& id, json cmd) {
    auto r = client.request("POST", "/v1/tasks", json{{"id", id}, {"command", cmd}}.dump());
    ASSERT_TRUE(r && r->status == 201) << id;
  };
  for (int i = 0; i < 3; ++i) submit("ok" + std::to_string(i), {"/bin/true"});
  for (int i = 0; i < 2; ++i) submit("err" + std::to_string(i), {"/bin/sh", "-c", "exit 3"});
  for (int i = 0; i < 4; ++i) submit("run" + std::to_string(i), {"/bin/sleep", "60"});
  for (const char* id : {"ok0", "ok1", "ok2", "err0", "err1"}) {
    auto w = client.request("GET", std::string("/v1/tasks/") + id + "/wait?timeout=60");
    ASSERT_TRUE(w && w->status == 200);
  }
  size_t started = 0;
  for (int t = 0; t < 500 && started < 4; ++t) {
    auto l = client.request("GET", "/v1/tasks?state=started");
    started = l ? json::parse(l->body)["tasks"].size() : 0;
    if (started < 4) usleep(20000);
  }
  ASSERT_EQ(started, 4u) << "what the API reports";

  std::string url = "http://" + listen + "/";
  std::string dom = chromium("--dump-dom", url);
  ASSERT_NE(dom.find("data-updates=\""), std::string::npos) << "the page never updated:\n" << dom;
  std::map<std::string, std::string> shown;
  std::regex figure("data-metric=\"([a-z_]+)\" data-value=\"([0-9.]+)\"");
  for (std::sregex_iterator it(dom.begin(), dom.end(), figure), end; it != end; ++it)
    shown[(*it)[1]] = (*it)[2];
  std::regex total("data-metric=\"([a-z_]+)\">([0-9.]+)<");
  for (std::sregex_iterator it(dom.begin(), dom.end(), total), end; it != end; ++it)
    shown[(*it)[1]] = (*it)[2];
  EXPECT_EQ(shown["started"], "4") << dom;
  EXPECT_EQ(shown["queued"], "0");
  EXPECT_EQ(shown["exited_zero"], "3");
  EXPECT_EQ(shown["exited_nonzero"], "2");
  EXPECT_EQ(shown["create_total"], "9");
  EXPECT_EQ(shown["delete_total"], "5");
  EXPECT_EQ(shown["leaked"], "0");
  EXPECT_EQ(dom.find("cannot reach the daemon"), std::string::npos);

  mkdir(CLAWCAGE_ARTIFACTS, 0755);
  std::string shot = std::string(CLAWCAGE_ARTIFACTS) + "/web-page.png";
  unlink(shot.c_str());
  chromium("--window-size=1200,900 --screenshot=" + shot, url);
  struct stat st;
  ASSERT_EQ(stat(shot.c_str(), &st), 0) << shot;
  EXPECT_GT(st.st_size, 10000) << "a blank screenshot";

  // The page needs nothing from the network: every asset comes from the daemon itself.
  for (const char* file : {"/web/index.html", "/web/app.js"}) {
    std::string text = read_text(std::string(CLAWCAGE_SOURCE_DIR) + file);
    ASSERT_FALSE(text.empty()) << file;
    for (const char* bad : {"http://", "https://", "//cdn"})
      EXPECT_EQ(text.find(bad), std::string::npos) << file << " names " << bad;
  }
  for (int i = 0; i < 4; ++i)
    (void)client.request("DELETE", "/v1/tasks/run" + std::to_string(i) + "?force=1");
  for (int i = 0; i < 4; ++i)
    (void)client.request("GET", "/v1/tasks/run" + std::to_string(i) + "/wait?timeout=60");
  EXPECT_TRUE(d.leftovers().empty());
}

}  // namespace
}  // namespace clawcage::test
