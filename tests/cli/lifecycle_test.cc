// The OCI lifecycle as separate processes: create, state, start, kill, delete.
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

#include "support/run_clawcage.h"

namespace clawcage::test {
namespace {

class Lifecycle : public ::testing::Test {
 protected:
  void SetUp() override {
    // A detached init outlives `clawcage create`; as a subreaper this test reaps it, as a
    // containerd shim would.
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    bundle_ = make_temp_dir("lifecycle");
    ASSERT_EQ(symlink("/var/lib/clawcage/images/builtin/rootfs", (bundle_ + "/rootfs").c_str()), 0);
  }
  void TearDown() override {
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);  // later tests in this process expect none
    remove_tree(bundle_);
  }
  void write_config(const std::string& script) {
    auto spec = run_clawcage({"spec", "--", "/bin/sh", "-c", script}, 30, false);
    ASSERT_EQ(spec.exit_code, 0) << spec.err;
    std::ofstream(bundle_ + "/config.json") << spec.out;
  }
  // `clawcage create` with its stdio on files: the init inherits them and outlives create.
  int create(const std::string& id) {
    pid_t pid = start_clawcage({"oci", "create", "--bundle", bundle_, id}, bundle_ + "/out");
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  std::string status(const std::string& id) {
    auto r = run_clawcage({"oci", "state", id}, 30, false);
    if (r.exit_code != 0) return "error: " + r.err;
    return nlohmann::json::parse(r.out).value("status", "");
  }
  std::string output() {
    std::ifstream f(bundle_ + "/out");
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  void expect_gone(const std::string& id) {
    // The killed inits are our (subreaper's) zombies until reaped.
    for (int i = 0; i < 100; ++i) {
      while (waitpid(-1, nullptr, WNOHANG) > 0) {
      }
      if (processes_in_sandbox_cgroups(id).empty()) break;
      usleep(10000);
    }
    EXPECT_TRUE(leftover_cgroups(id).empty());
    EXPECT_TRUE(processes_in_sandbox_cgroups(id).empty());
    EXPECT_NE(access(("/run/clawcage/" + id).c_str(), F_OK), 0);
  }
  std::string bundle_;
};

TEST_F(Lifecycle, CreateWaitsStartRunsDeleteRemoves) {
  write_config("echo payload-ran");
  std::string id = unique_name("lc");
  ASSERT_EQ(create(id), 0) << output();
  EXPECT_EQ(status(id), "created");
  usleep(100000);
  EXPECT_EQ(output().find("payload-ran"), std::string::npos) << "ran before start";
  auto start = run_clawcage({"oci", "start", id}, 30, false);
  ASSERT_EQ(start.exit_code, 0) << start.err;
  for (int i = 0; i < 200 && status(id) != "stopped"; ++i) usleep(10000);
  EXPECT_EQ(status(id), "stopped");
  EXPECT_NE(output().find("payload-ran"), std::string::npos);
  auto list = run_clawcage({"oci", "list", "--json"}, 30, false);
  ASSERT_EQ(list.exit_code, 0) << list.err;
  bool listed = false;
  for (const auto& st : nlohmann::json::parse(list.out))
    listed = listed || (st.value("id", "") == id && st.value("status", "") == "stopped");
  EXPECT_TRUE(listed) << list.out;
  auto again = run_clawcage({"oci", "start", id}, 30, false);
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("not created"), std::string::npos) << again.err;
  auto del = run_clawcage({"oci", "delete", id}, 30, false);
  EXPECT_EQ(del.exit_code, 0) << del.err;
  expect_gone(id);
}

TEST_F(Lifecycle, KillAndForcedDelete) {
  write_config("sleep 30");
  std::string id = unique_name("lckill");
  ASSERT_EQ(create(id), 0) << output();
  ASSERT_EQ(run_clawcage({"oci", "start", id}, 30, false).exit_code, 0);
  EXPECT_EQ(status(id), "running");
  auto refused = run_clawcage({"oci", "delete", id}, 30, false);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("running"), std::string::npos) << refused.err;
  auto kill = run_clawcage({"oci", "kill", id, "KILL"}, 30, false);
  EXPECT_EQ(kill.exit_code, 0) << kill.err;
  for (int i = 0; i < 200 && status(id) != "stopped"; ++i) usleep(10000);
  EXPECT_EQ(status(id), "stopped");
  EXPECT_EQ(run_clawcage({"oci", "delete", id}, 30, false).exit_code, 0);
  expect_gone(id);

  // A created (never started) sandbox goes with --force.
  std::string id2 = unique_name("lcforce");
  ASSERT_EQ(create(id2), 0);
  EXPECT_EQ(run_clawcage({"oci", "delete", "--force", id2}, 30, false).exit_code, 0);
  expect_gone(id2);
}

TEST_F(Lifecycle, ErrorsNameTheSandbox) {
  write_config("true");
  auto missing = run_clawcage({"oci", "start", "no-such-sandbox"}, 30, false);
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("no-such-sandbox: no such sandbox"), std::string::npos) << missing.err;
  std::string id = unique_name("lcdup");
  ASSERT_EQ(create(id), 0);
  EXPECT_NE(create(id), 0);
  EXPECT_NE(output().find("a sandbox named " + id + " exists"), std::string::npos) << output();
  EXPECT_EQ(status(id), "created");
  auto sig = run_clawcage({"oci", "kill", id, "SIGBOGUS"}, 30, false);
  EXPECT_NE(sig.err.find("unknown signal"), std::string::npos) << sig.err;
  EXPECT_EQ(run_clawcage({"oci", "delete", "-f", id}, 30, false).exit_code, 0);
  expect_gone(id);
}

// The kernel's view of a process: its namespaces, root, cgroups and containment.
std::map<std::string, std::string> kernel_view(int pid) {
  std::map<std::string, std::string> v;
  std::string base = "/proc/" + std::to_string(pid);
  char buf[256];
  for (const char* ns : {"mnt", "uts", "ipc", "net", "pid", "cgroup", "user"}) {
    ssize_t n = readlink((base + "/ns/" + ns).c_str(), buf, sizeof buf);
    v[std::string("ns/") + ns] = n > 0 ? std::string(buf, n) : "?";
  }
  struct stat st;
  v["root"] = stat((base + "/root/").c_str(), &st) == 0
                  ? std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino)
                  : "?";
  v["cgroup"] = read_text(base + "/cgroup");
  std::istringstream status(read_text(base + "/status"));
  for (std::string line; std::getline(status, line);)
    for (const char* key : {"Uid:", "Gid:", "Groups:", "CapInh:", "CapPrm:", "CapEff:", "CapBnd:",
                            "CapAmb:", "NoNewPrivs:", "Seccomp:", "Seccomp_filters:"})
      if (line.rfind(key, 0) == 0) v[key] = line;
  return v;
}

TEST_F(Lifecycle, ExecJoinsTheSandboxContainedLikeItsInit) {
  write_config("sleep 60");
  std::string id = unique_name("lcexec");
  ASSERT_EQ(create(id), 0) << output();
  ASSERT_EQ(run_clawcage({"oci", "start", id}, 30, false).exit_code, 0);
  auto state = nlohmann::json::parse(run_clawcage({"oci", "state", id}, 30, false).out);
  int init = state.value("pid", 0);
  ASSERT_GT(init, 0);

  // Output, exit code, env, cwd, user.
  auto r = run_clawcage({"oci", "exec", "-e", "FOO=bar", "--cwd", "/tmp", id, "--", "/bin/sh", "-c",
                         "echo $FOO $(pwd) $(hostname) $$; exit 3"},
                        30, false);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(r.out, "bar /tmp sandbox 2\n") << "pid 2: inside the sandbox's pid namespace";
  auto as_user = run_clawcage({"oci", "exec", "-u", "1000:1001", id, "--", "id", "-u"}, 30, false);
  EXPECT_EQ(as_user.out, "1000\n") << as_user.err;

  // From the kernel's side: same namespaces, root, cgroups, ids and containment as the init.
  std::string pid_file = bundle_ + "/exec.pid";
  pid_t bg = start_clawcage(
      {"oci", "exec", "--detach", "--pid-file", pid_file, id, "--", "/bin/sleep", "60"});
  int bg_status = -1;
  ASSERT_EQ(waitpid(bg, &bg_status, 0), bg);
  ASSERT_TRUE(WIFEXITED(bg_status) && WEXITSTATUS(bg_status) == 0);
  int exec_pid = std::atoi(read_text(pid_file).c_str());
  ASSERT_GT(exec_pid, 0);
  auto theirs = kernel_view(init), ours = kernel_view(exec_pid);
  for (const auto& [key, value] : theirs) EXPECT_EQ(ours[key], value) << key;
  EXPECT_NE(theirs["cgroup"].find(id), std::string::npos) << theirs["cgroup"];

  // Errors: each names what is wrong, and nothing new runs in the sandbox.
  auto missing = run_clawcage({"oci", "exec", id, "--", "/no/such/binary"}, 30, false);
  EXPECT_EQ(missing.exit_code, 127);
  EXPECT_NE(missing.err.find("/no/such/binary"), std::string::npos) << missing.err;
  std::string process = bundle_ + "/process.json";
  std::ofstream(process) << R"({"args": ["/bin/true"], "cwd": "/",
      "capabilities": {"bounding": ["CAP_SYS_ADMIN"], "effective": ["CAP_SYS_ADMIN"]}})";
  auto wider = run_clawcage({"oci", "exec", "--process", process, id}, 30, false);
  EXPECT_NE(wider.exit_code, 0);
  EXPECT_NE(wider.err.find("CAP_SYS_ADMIN is outside sandbox " + id + "'s bounding set"),
            std::string::npos)
      << wider.err;
  auto tty = run_clawcage({"oci", "exec", "-t", id, "--", "/bin/true"}, 30, false);
  EXPECT_NE(tty.err.find("terminals are not supported"), std::string::npos) << tty.err;
  auto no_sandbox = run_clawcage({"oci", "exec", "no-such-sandbox", "--", "/bin/true"}, 30, false);
  EXPECT_NE(no_sandbox.err.find("no-such-sandbox: no such sandbox"), std::string::npos)
      << no_sandbox.err;
  EXPECT_EQ(processes_in_sandbox_cgroups(id).size(), 2u) << "the init and the detached exec";

  EXPECT_EQ(run_clawcage({"oci", "kill", id, "KILL"}, 30, false).exit_code, 0);
  // The detached exec was reparented to this test (a subreaper): the init's exit waits until
  // it is reaped, as it would wait for a containerd shim.
  for (int i = 0; i < 200 && status(id) != "stopped"; ++i) {
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    usleep(10000);
  }
  ASSERT_EQ(status(id), "stopped");
  auto stopped = run_clawcage({"oci", "exec", id, "--", "/bin/true"}, 30, false);
  EXPECT_NE(stopped.err.find("sandbox is stopped, not running"), std::string::npos) << stopped.err;
  auto deleted = run_clawcage({"oci", "delete", id}, 30, false);
  EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
  expect_gone(id);
}

}  // namespace
}  // namespace clawcage::test
