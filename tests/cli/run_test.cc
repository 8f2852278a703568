// `clawcage run` as a user drives it: exit codes, records, bundles, and bad input that
// must give a clear error and leave nothing behind (checked from the kernel side).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "support/run_clawcage.h"

namespace clawcage::test {
namespace {

void expect_nothing_left(const std::string& task) {
  EXPECT_TRUE(leftover_cgroups(task).empty()) << task;
  EXPECT_TRUE(processes_in_sandbox_cgroups(task).empty()) << task;
  EXPECT_TRUE(leftover_mounts(task).empty()) << task;
  EXPECT_NE(access(("/run/clawcage/" + task).c_str(), F_OK), 0) << task;
}

TEST(Run, ExitCodesPassThrough) {
  std::string task = unique_name("exit");
  auto r = run_clawcage(
      {"run", "--task", task, "--", "/bin/sh", "-c", "echo out; echo err >&2; exit 42"});
  EXPECT_EQ(r.exit_code, 42);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_EQ(r.record["cause"], "exited");
  EXPECT_EQ(r.record["exit_code"], 42);
  EXPECT_EQ(r.record["task"], task);
  expect_nothing_left(task);
}

TEST(Run, AgentsAreDrivenThroughStdio) {
  // A JSON request on stdin, the answer on stdout, as agent frameworks drive containers.
  std::string task = unique_name("stdio");
  auto r =
      run_clawcage({"run", "--task", task, "--", "/bin/sh", "-c", "read req; echo \"got $req\""},
                   30, true, "{\"step\": 1}\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "got {\"step\": 1}\n");
  expect_nothing_left(task);
}

TEST(Run, SignalDeathIs128PlusN) {
  std::string task = unique_name("signal");
  // chroot tier: no pid namespace, so the task is not a pid 1 that ignores signals.
  auto r = run_clawcage(
      {"run", "--isolate", "chroot", "--task", task, "--", "/bin/sh", "-c", "kill -SEGV $$"});
  EXPECT_EQ(r.exit_code, 128 + 11) << r.err;
  EXPECT_EQ(r.record["cause"], "signaled");
  EXPECT_EQ(r.record["signal"], 11);
  expect_nothing_left(task);
}

TEST(Run, ProcessSettingsApply) {
  std::string task = unique_name("settings");
  auto r = run_clawcage({"run", "--task", task, "--env", "GREETING=hi", "--cwd", "/tmp", "--user",
                         "1000:1000", "--hostname", "agent-box", "--", "/bin/sh", "-c",
                         "echo $GREETING $(pwd) $(id -u):$(id -g) $(hostname)"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hi /tmp 1000:1000 agent-box\n");
  expect_nothing_left(task);
}

TEST(Run, ContainerNamespacesAsPromised) {
  std::string task = unique_name("ns");
  auto r = run_clawcage({"run", "--task", task, "--", "/bin/sh", "-c",
                         "grep -v ':/$' /proc/self/cgroup; echo cgroups-done; "
                         "cat /sys/class/net/lo/operstate; ls /sys/class/net; hostname; "
                         "cat /proc/self/uid_map; grep Groups /proc/self/status"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Every hierarchy's path is "/": the cgroup namespace hides where the sandbox lives.
  EXPECT_EQ(r.out.find("cgroups-done"), 0u) << r.out;
  EXPECT_NE(r.out.find("down\nlo\n"), std::string::npos)
      << "only a loopback, and it is down: " << r.out;
  EXPECT_NE(r.out.find(task.substr(0, 63) + "\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("0     100000      65536"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Groups:\t \n"), std::string::npos) << "host groups dropped: " << r.out;
  expect_nothing_left(task);
}

TEST(Run, LimitsReachTheKernel) {
  std::string task = unique_name("limits");
  pid_t runner =
      start_clawcage({"run", "--task", task, "--memory", "64M", "--pids", "32", "--cpus", "0.5",
                      "--cpu-shares", "512", "--cpuset-cpus", "0", "--", "/bin/sleep", "2"});
  auto read = [](const std::string& path) {
    std::ifstream f(path);
    std::string v;
    std::getline(f, v);
    return v;
  };
  std::string mem = "/sys/fs/cgroup/memory/clawcage/" + task;
  for (int i = 0; i < 200 && processes_in_sandbox_cgroups(task).empty(); ++i) usleep(10000);
  EXPECT_EQ(read(mem + "/memory.limit_in_bytes"), std::to_string(64 << 20));
  EXPECT_EQ(read(mem + "/memory.memsw.limit_in_bytes"), std::to_string(64 << 20))
      << "no swap escape";
  EXPECT_EQ(read("/sys/fs/cgroup/pids/clawcage/" + task + "/pids.max"), "32");
  EXPECT_EQ(read("/sys/fs/cgroup/cpu/clawcage/" + task + "/cpu.cfs_quota_us"), "50000");
  EXPECT_EQ(read("/sys/fs/cgroup/cpu/clawcage/" + task + "/cpu.shares"), "512");
  EXPECT_EQ(read("/sys/fs/cgroup/cpuset/clawcage/" + task + "/cpuset.cpus"), "0");
  // The sandbox's processes are in those cgroups, not only the directories.
  auto pids = processes_in_sandbox_cgroups(task);
  ASSERT_FALSE(pids.empty());
  // clone3 places the init in the cgroup2 dir at once and the parent writes it into the v1
  // hierarchies before it says "go" (the init does nothing before that): wait out that
  // window rather than catch the init inside it.
  std::string cg;
  for (int i = 0; i < 200; ++i) {
    cg = read_text("/proc/" + std::to_string(pids.front()) + "/cgroup");
    if (cg.find("memory:/clawcage/" + task) != std::string::npos) break;
    usleep(10000);
  }
  EXPECT_NE(cg.find("memory:/clawcage/" + task), std::string::npos) << cg;
  EXPECT_NE(cg.find("pids:/clawcage/" + task), std::string::npos) << cg;
  int st = 0;
  waitpid(runner, &st, 0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  expect_nothing_left(task);
}

TEST(Run, RecordListsControlsAndUsage) {
  std::string task = unique_name("record");
  auto r = run_clawcage({"run", "--isolate", "strict", "--task", task, "--", "/bin/true"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.record["tier"], "strict");
  EXPECT_FALSE(r.record["controls"].empty());
  EXPECT_GT(r.record["wall_ms"].get<double>(), 0);
  EXPECT_TRUE(r.record.contains("memory_peak_bytes"));
  EXPECT_TRUE(r.record.contains("cpu_ms"));
  expect_nothing_left(task);
}

TEST(Run, CommandNotFoundIs127) {
  std::string task = unique_name("notfound");
  auto r = run_clawcage({"run", "--task", task, "--", "/no/such/program"});
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_EQ(r.record["cause"], "spawn_failed");
  EXPECT_NE(r.err.find("/no/such/program"), std::string::npos) << r.err;
  expect_nothing_left(task);
}

TEST(Run, RootfsDirectory) {
  std::string task = unique_name("rootfs");
  auto r =
      run_clawcage({"run", "--task", task, "--rootfs", "/var/lib/clawcage/images/builtin/rootfs",
                    "--", "/bin/echo", "plain dir"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "plain dir\n");
  expect_nothing_left(task);
}

TEST(Run, OciBundle) {
  std::string bundle = make_temp_dir("bundle");
  ASSERT_EQ(symlink("/var/lib/clawcage/images/builtin/rootfs", (bundle + "/rootfs").c_str()), 0);
  auto spec = run_clawcage({"spec", "--isolate", "container", "--", "/bin/sh", "-c",
                            "echo from-bundle; grep CapAmb /proc/self/status"},
                           30, false);
  ASSERT_EQ(spec.exit_code, 0) << spec.err;
  // Capabilities as crun's default spec has them: ambient without inheritable.
  auto j = nlohmann::json::parse(spec.out);
  std::vector<std::string> caps = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
  j["process"]["capabilities"] = {{"bounding", caps},
                                  {"effective", caps},
                                  {"inheritable", nlohmann::json::array()},
                                  {"permitted", caps},
                                  {"ambient", caps}};
  std::ofstream(bundle + "/config.json") << j.dump();
  std::string task = unique_name("bundle");
  auto r = run_clawcage({"run", "--task", task, "--bundle", bundle});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "from-bundle\nCapAmb:\t0000000020000420\n");
  expect_nothing_left(task);
  remove_tree(bundle);
}

TEST(Run, BundleCgroupMountShowsOnlyTheSandbox) {
  // runc's and crun's default config.json mount cgroupfs at /sys/fs/cgroup.
  std::string bundle = make_temp_dir("cgbundle");
  ASSERT_EQ(symlink("/var/lib/clawcage/images/builtin/rootfs", (bundle + "/rootfs").c_str()), 0);
  auto spec = run_clawcage({"spec", "--", "/bin/sh", "-c",
                            "cat /sys/fs/cgroup/cgroup.procs | wc -l; "
                            "echo 1 > /sys/fs/cgroup/cgroup.procs 2>/dev/null || echo read-only"},
                           30, false);
  auto j = nlohmann::json::parse(spec.out);
  j["mounts"].push_back({{"destination", "/sys/fs/cgroup"},
                         {"type", "cgroup"},
                         {"source", "cgroup"},
                         {"options", {"nosuid", "noexec", "nodev", "relatime", "ro"}}});
  std::ofstream(bundle + "/config.json") << j.dump();
  std::string task = unique_name("cgmount");
  auto r = run_clawcage({"run", "--task", task, "--bundle", bundle});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // The shell, cat and wc: the sandbox's own processes, none of the host's.
  EXPECT_LE(std::stoi(r.out.empty() ? "0" : r.out), 3) << r.out;
  EXPECT_NE(r.out.find("read-only"), std::string::npos) << r.out;
  expect_nothing_left(task);
  remove_tree(bundle);
}

struct BadInput {
  std::string name;
  std::vector<std::string> args;
  std::string expected_in_error;
};

TEST(Run, BadInputGivesClearErrorAndLeavesNothing) {
  std::string bundle = make_temp_dir("badbundle");
  std::ofstream(bundle + "/config.json") << "{\"ociVersion\": \"1.0.2\", \"process\": ";
  std::string out_parent = make_temp_dir("badout");
  const std::vector<BadInput> cases = {
      {"malformed-config", {"--bundle", bundle, "--", "/bin/true"}, "malformed JSON"},
      {"missing-rootfs",
       {"--rootfs", "/nonexistent/rootfs", "--", "/bin/true"},
       "/nonexistent/rootfs"},
      {"missing-volume", {"--ro", "/nonexistent/vol:/in", "--", "/bin/true"}, "/nonexistent/vol"},
      {"negative-memory", {"--memory", "-5M", "--", "/bin/true"}, "--memory: must not be negative"},
      {"negative-pids", {"--pids", "-1", "--", "/bin/true"}, "pids: must be at least 1"},
      {"zero-cpus", {"--cpus", "0", "--", "/bin/true"}, "cpus: must be positive"},
      {"unknown-tier", {"--isolate", "bogus", "--", "/bin/true"}, "unknown tier \"bogus\""},
      {"sensitive-volume", {"--ro", "/etc:/etc-copy", "--", "/bin/true"}, "host system directory"},
      {"bad-timeout", {"--timeout", "soon", "--", "/bin/true"}, "--timeout: expected a number"},
      {"no-command", {}, "command: required"},
      {"bad-volume-spec", {"--ro", "/tmp", "--", "/bin/true"}, "expected SRC:DST"},
      {"bundle-with-volume",
       {"--bundle", "FILE_BUNDLE", "--ro", "/tmp:/in", "--", "/bin/true"},
       "a bundle's are in its config.json"},
      // Fails inside the sandbox init, after the cgroup, namespaces and some mounts exist.
      {"mount-under-a-file", {"--bundle", "FILE_BUNDLE", "--", "/bin/true"}, "mounts[0]"},
      {"rlimit-above-hard",
       {"--bundle", "RLIMIT_BUNDLE", "--", "/bin/true"},
       "above this host's hard limit"},
  };
  // A bundle asking for more open files than this host's hard limit allows.
  std::string rl_bundle = make_temp_dir("rlbundle");
  ASSERT_EQ(symlink("/var/lib/clawcage/images/builtin/rootfs", (rl_bundle + "/rootfs").c_str()), 0);
  auto spec = run_clawcage({"spec", "--", "/bin/true"}, 30, false);
  auto j = nlohmann::json::parse(spec.out);
  j["process"]["rlimits"] = {{{"type", "RLIMIT_NOFILE"}, {"soft", 1048576}, {"hard", 1048576}}};
  std::ofstream(rl_bundle + "/config.json") << j.dump();
  // A bundle whose first mount lands under a regular file of the image.
  std::string file_bundle = make_temp_dir("filebundle");
  ASSERT_EQ(symlink("/var/lib/clawcage/images/builtin/rootfs", (file_bundle + "/rootfs").c_str()),
            0);
  auto fj = nlohmann::json::parse(spec.out);
  fj["mounts"].insert(fj["mounts"].begin(), nlohmann::json{{"destination", "/bin/busybox/sub"},
                                                           {"type", "tmpfs"},
                                                           {"source", "tmpfs"},
                                                           {"options", {"nosuid"}}});
  std::ofstream(file_bundle + "/config.json") << fj.dump();
  for (auto c : cases) {
    for (auto& a : c.args) {
      if (a == "RLIMIT_BUNDLE") a = rl_bundle;
      if (a == "FILE_BUNDLE") a = file_bundle;
    }
    std::string task = unique_name(c.name);
    // An output dir it might create, to check that it does not (bundles take none).
    bool bundle = std::find(c.args.begin(), c.args.end(), "--bundle") != c.args.end();
    std::vector<std::string> args = {"run", "--task", task};
    if (!bundle) args.insert(args.end(), {"--output", out_parent + "/" + c.name});
    args.insert(args.end(), c.args.begin(), c.args.end());
    auto r = run_clawcage(args);
    EXPECT_EQ(r.exit_code, 125) << c.name << ": " << r.err;
    EXPECT_NE(r.err.find(c.expected_in_error), std::string::npos) << c.name << ": " << r.err;
    // The record says so too, for whoever reads records instead of stderr.
    EXPECT_EQ(r.record.is_object() ? r.record.value("cause", "") : "", "spawn_failed") << c.name;
    expect_nothing_left(task);
    // The output dir it would have created is not left behind either.
    EXPECT_NE(access((out_parent + "/" + c.name).c_str(), F_OK), 0) << c.name;
  }
  remove_tree(bundle);
  remove_tree(rl_bundle);
  remove_tree(file_bundle);
  remove_tree(out_parent);
}

TEST(Run, WritableVolumesAndExecutableInputs) {
  std::string rw = make_temp_dir("rw");
  std::string tools = make_temp_dir("tools");
  std::ifstream src(testcases_dir() + "/escape", std::ios::binary);
  std::ofstream(tools + "/tool", std::ios::binary) << src.rdbuf();
  chmod((tools + "/tool").c_str(), 0755);
  chmod(rw.c_str(), 0777);
  std::string task = unique_name("volumes");
  auto r =
      run_clawcage({"run", "--task", task, "--rw", rw + ":/work", "--ro", tools + ":/tools:exec",
                    "--", "/bin/sh", "-c", "echo made > /work/f && /tools/tool fds"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  std::ifstream made(rw + "/f");
  std::string line;
  std::getline(made, line);
  EXPECT_EQ(line, "made");
  expect_nothing_left(task);
  remove_tree(rw);
  remove_tree(tools);
}

TEST(Run, DuplicateTaskNameIsRefusedWithoutTouchingTheFirst) {
  std::string task = unique_name("dup");
  // Start a long task in the background, then try the same name.
  pid_t first =
      start_clawcage({"run", "--task", task, "--timeout", "10s", "--", "/bin/sleep", "3"});
  for (int i = 0; i < 100 && leftover_cgroups(task).empty(); ++i) usleep(20000);
  auto r = run_clawcage({"run", "--task", task, "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find(task), std::string::npos) << r.err;
  EXPECT_FALSE(leftover_cgroups(task).empty()) << "the first task's cgroup must survive";
  kill(first, SIGTERM);
  int st = 0;
  waitpid(first, &st, 0);
  expect_nothing_left(task);
}

TEST(Run, OperatorSignalKillsTheSandboxAndSaysSo) {
  std::string task = unique_name("operator");
  std::string record = "/tmp/clawcage-record-" + task + ".json";
  pid_t runner = start_clawcage({"run", "--task", task, "--record", record, "--kill-grace", "300ms",
                                 "--", "/bin/sh", "-c", "trap '' TERM; sleep 30"});
  for (int i = 0; i < 200 && processes_in_sandbox_cgroups(task).empty(); ++i) usleep(20000);
  usleep(100000);
  kill(runner, SIGTERM);
  int st = 0;
  waitpid(runner, &st, 0);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 137);
  std::ifstream in(record);
  auto j = nlohmann::json::parse(in, nullptr, false);
  EXPECT_EQ(j.value("cause", ""), "killed") << j.dump();
  EXPECT_EQ(j.value("killed_by", ""), "operator");
  unlink(record.c_str());
  expect_nothing_left(task);
}

TEST(Run, SigkillOfClawcageLeavesNothing) {
  std::string task = unique_name("crash");
  pid_t runner = start_clawcage({"run", "--task", task, "--", "/bin/sleep", "30"});
  for (int i = 0; i < 200 && processes_in_sandbox_cgroups(task).empty(); ++i) usleep(20000);
  ASSERT_FALSE(processes_in_sandbox_cgroups(task).empty());
  kill(runner, SIGKILL);
  waitpid(runner, nullptr, 0);
  // The sandbox dies with its runner (parent-death signal, pid namespace teardown), and the
  // cleanup guard removes its cgroup and state without anyone running gc. The dead init is
  // reaped by pid 1, which on these VMs takes its time (~1.5 s measured): allow 10 s.
  for (int i = 0;
       i < 1000 && !(processes_in_sandbox_cgroups(task).empty() && leftover_cgroups(task).empty());
       ++i)
    usleep(10000);
  expect_nothing_left(task);
}

}  // namespace
}  // namespace clawcage::test
