// Many sandboxes at once, ending in every way: each reports its own cause and nothing of
// any of them is left in the kernel.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "support/run_clawcage.h"

namespace clawcage::test {
namespace {

TEST(Concurrency, ThirtyTasksEndingEveryWayLeaveNothing) {
  constexpr int kTasks = 30;
  struct Job {
    std::string task, record, want;
    pid_t pid = -1;
  };
  std::vector<Job> jobs;
  std::string tc = testcases_dir() + ":/t:exec";
  for (int i = 0; i < kTasks; ++i) {
    Job j;
    j.task = unique_name("conc");
    j.record = "/tmp/clawcage-record-" + j.task + ".json";
    std::vector<std::string> args = {"run", "--task",   j.task, "--record", j.record, "--ro",
                                     tc,    "--memory", "48M",  "--pids",   "32"};
    switch (i % 3) {
      case 0:
        j.want = "exited";
        args.insert(args.end(), {"--", "/bin/sh", "-c", "echo hi > /tmp/x; cat /tmp/x"});
        break;
      case 1:
        j.want = "timeout";
        args.insert(args.end(), {"--timeout", "500ms", "--kill-grace", "100ms", "--", "/t/escape",
                                 "ignore-term", j.task});
        break;
      default:
        j.want = "oom_killed";
        args.insert(args.end(), {"--", "/t/escape", "memory-bomb", "512"});
        break;
    }
    j.pid = start_clawcage(args);
    jobs.push_back(std::move(j));
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  for (auto& j : jobs) {
    int st = 0;
    while (waitpid(j.pid, &st, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(j.pid, SIGKILL);
        waitpid(j.pid, &st, 0);
        ADD_FAILURE() << j.task << " did not finish in time";
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  for (const auto& j : jobs) {
    std::ifstream in(j.record);
    auto rec = nlohmann::json::parse(in, nullptr, false);
    EXPECT_EQ(rec.is_discarded() ? "" : rec.value("cause", ""), j.want) << j.task;
    unlink(j.record.c_str());
    EXPECT_TRUE(leftover_cgroups(j.task).empty()) << j.task;
    EXPECT_TRUE(processes_in_sandbox_cgroups(j.task).empty()) << j.task;
    EXPECT_NE(access(("/run/clawcage/" + j.task).c_str(), F_OK), 0) << j.task;
    EXPECT_TRUE(processes_with_cmdline("ignore-term " + j.task).empty()) << j.task;
  }
}

}  // namespace
}  // namespace clawcage::test
