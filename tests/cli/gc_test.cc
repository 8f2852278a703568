#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

#include "linux/cgroup.h"
#include "support/run_clawcage.h"

namespace clawcage::test {
namespace {

TEST(Gc, RemovesLeftoversOfACrashByName) {
  // What a crash of both the runner and its guard would leave: a cgroup and a state dir
  // whose init is gone.
  std::string task = unique_name("gc");
  auto mgr = os::CgroupManager::detect();
  ASSERT_TRUE(mgr);
  auto cg = (*mgr)->create(task, {});
  ASSERT_TRUE(cg) << cg.error().message();
  (*cg)->release();
  std::string dir = "/run/clawcage/" + task;
  ASSERT_EQ(mkdir("/run/clawcage", 0711) == 0 || errno == EEXIST, true);
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  std::ofstream(dir + "/state.json") << R"({"id":")" << task << R"(","pid":999999,"start_time":1})";
  ASSERT_FALSE(leftover_cgroups(task).empty());

  auto dry = run_clawcage({"gc", "--dry-run"}, 30, false);
  EXPECT_NE(dry.out.find("would remove " + task), std::string::npos) << dry.out;
  EXPECT_FALSE(leftover_cgroups(task).empty());

  auto r = run_clawcage({"gc"}, 30, false);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("removed " + task), std::string::npos) << r.out;
  EXPECT_TRUE(leftover_cgroups(task).empty());
  EXPECT_NE(access(dir.c_str(), F_OK), 0);
}

TEST(Gc, RemovesAbandonedClaims) {
  // A runner killed between claiming its hidden state dir and renaming it into place.
  std::string task = unique_name("claim");
  std::string dir = "/run/clawcage/." + task + ".999999";
  ASSERT_EQ(mkdir("/run/clawcage", 0711) == 0 || errno == EEXIST, true);
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  std::ofstream(dir + "/state.json") << "{}";
  // One whose creator lives (this test) stays.
  std::string live = "/run/clawcage/." + task + "-live." + std::to_string(getpid());
  ASSERT_EQ(mkdir(live.c_str(), 0700), 0);
  auto r = run_clawcage({"gc"}, 30, false);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(access(dir.c_str(), F_OK), 0);
  EXPECT_EQ(access(live.c_str(), F_OK), 0);
  rmdir(live.c_str());
}

TEST(Gc, LeavesLiveSandboxesAlone) {
  std::string task = unique_name("gclive");
  pid_t runner =
      start_clawcage({"run", "--task", task, "--timeout", "10s", "--", "/bin/sleep", "2"});
  for (int i = 0; i < 200 && access(("/run/clawcage/" + task + "/state.json").c_str(), F_OK) != 0;
       ++i)
    usleep(10000);
  auto r = run_clawcage({"gc"}, 30, false);
  EXPECT_EQ(r.out.find(task), std::string::npos) << r.out;
  EXPECT_FALSE(leftover_cgroups(task).empty());
  int st = 0;
  waitpid(runner, &st, 0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  EXPECT_TRUE(leftover_cgroups(task).empty());
}

}  // namespace
}  // namespace clawcage::test
