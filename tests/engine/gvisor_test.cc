// The gvisor tier (`--isolate gvisor`): the same task request as the native tiers, run under
// runsc. Exit causes, deadlines, limits, volumes, the escape battery and cleanup, each
// checked from the kernel side (cgroupfs, /proc, mountinfo, the state dir). Every task id
// starts with "gv-" so leftovers are attributable to these tests.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "support/daemon_process.h"
#include "support/run_clawcage.h"

namespace clawcage::test {
namespace {

using json = nlohmann::json;

std::string gv_name(const std::string& what) {
  static int counter = 0;
  return "gv-" + what + "-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
}

bool runsc_installed() {
  return access("/usr/bin/runsc", X_OK) == 0 || access("/usr/local/bin/runsc", X_OK) == 0;
}

bool poll_until(const std::function<bool()>& done, int timeout_ms) {
  for (int waited = 0; waited < timeout_ms; waited += 20) {
    if (done()) return true;
    usleep(20000);
  }
  return done();
}

// Entries of dir whose name contains needle.
std::vector<std::string> entries_naming(const std::string& dir, const std::string& needle) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  while (dirent* e = d ? readdir(d) : nullptr)
    if (std::string(e->d_name).find(needle) != std::string::npos) out.push_back(e->d_name);
  if (d) closedir(d);
  return out;
}

// Everything a gvisor task could leave: its cgroup (any hierarchy), processes in it, runsc
// processes (their command lines carry the id), mounts, its state dir (with runsc's --root
// and bundle inside), and anything runsc might write elsewhere (/run/runsc, /tmp).
std::vector<std::string> leftovers(const std::string& task) {
  std::vector<std::string> left;
  for (const auto& c : leftover_cgroups(task)) left.push_back("cgroup " + c);
  for (int p : processes_in_sandbox_cgroups(task))
    left.push_back("process in cgroup " + std::to_string(p));
  for (int p : processes_with_cmdline(task))
    left.push_back("process " + std::to_string(p) + ": " +
                   read_text("/proc/" + std::to_string(p) + "/cmdline"));
  for (const auto& m : leftover_mounts(task)) left.push_back("mount " + m);
  if (access(("/run/clawcage/" + task).c_str(), F_OK) == 0) left.push_back("state dir");
  for (const char* dir : {"/run/runsc", "/var/run/runsc", "/tmp", "/dev/shm"})
    for (const auto& e : entries_naming(dir, task)) left.push_back(std::string(dir) + "/" + e);
  return left;
}

void expect_clean(const std::string& task, int wait_ms = 0) {
  std::vector<std::string> left;
  poll_until(
      [&] {
        left = leftovers(task);
        return left.empty();
      },
      wait_ms);
  EXPECT_TRUE(left.empty()) << task << " left: " << ::testing::PrintToString(left);
}

class Gvisor : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!runsc_installed()) GTEST_SKIP() << "runsc is not installed";
  }

  // `clawcage run --isolate gvisor` with the test programs at /t and the battery's limits.
  RunOutput run(const std::string& task, std::vector<std::string> payload,
                std::vector<std::string> extra = {}, int timeout_s = 60) {
    // --pids counts every host task of a gVisor sandbox, runsc's own included (see the tier).
    std::vector<std::string> args = {"run",
                                     "--isolate",
                                     "gvisor",
                                     "--task",
                                     task,
                                     "--ro",
                                     testcases_dir() + ":/t:exec",
                                     "--pids",
                                     "256",
                                     "--memory",
                                     "128M",
                                     "--timeout",
                                     "20s"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back("--");
    args.insert(args.end(), payload.begin(), payload.end());
    return run_clawcage(args, timeout_s);
  }
};

TEST_F(Gvisor, ExitCodeAndRecord) {
  std::string task = gv_name("exit");
  auto r = run(task, {"/bin/sh", "-c", "echo out; echo err >&2; exit 7"});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_EQ(r.record["cause"], "exited");
  EXPECT_EQ(r.record["exit_code"], 7);
  EXPECT_EQ(r.record["tier"], "gvisor");
  bool names_runsc = false;
  for (const auto& c : r.record["controls"])
    names_runsc |= c.get<std::string>().find("runsc") != std::string::npos;
  EXPECT_TRUE(names_runsc) << r.record.dump();
  // Every runsc process was in the task's cgroup: its CPU time and pids were counted.
  EXPECT_GT(r.record.value("cpu_ms", 0.0), 0.0);
  EXPECT_GT(r.record.value("pids_peak", 0), 2);
  expect_clean(task);
}

TEST_F(Gvisor, SignalDeathIsSignaled) {
  std::string task = gv_name("signal");
  auto r = run(task, {"/bin/sh", "-c", "kill -KILL $$"});
  EXPECT_EQ(r.exit_code, 137) << r.err;
  EXPECT_EQ(r.record["cause"], "signaled");
  EXPECT_EQ(r.record["signal"], 9);
  expect_clean(task);
}

TEST_F(Gvisor, DeadlineSendsTermThroughRunscThenKills) {
  // A payload that handles SIGTERM gets it (runsc kill, not a signal to `runsc run`).
  std::string polite = gv_name("deadline-term");
  auto r = run(polite,
               {"/bin/sh", "-c", "trap 'echo got-term; exit 5' TERM; while :; do sleep 0.1; done"},
               {"--timeout", "1s", "--kill-grace", "5s"});
  EXPECT_EQ(r.record["cause"], "timeout") << r.record.dump() << r.err;
  EXPECT_EQ(r.record["killed_by"], "deadline");
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_NE(r.out.find("got-term"), std::string::npos) << r.out;
  expect_clean(polite);

  // One that ignores it, with a double-forked child, is killed with its whole cgroup.
  std::string task = gv_name("deadline");
  auto t0 = std::chrono::steady_clock::now();
  r = run(task, {"/t/escape", "ignore-term", task}, {"--timeout", "1s", "--kill-grace", "300ms"});
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.record["cause"], "timeout") << r.record.dump() << r.err;
  EXPECT_EQ(r.record["killed_by"], "deadline");
  EXPECT_EQ(r.exit_code, 137);
  EXPECT_NE(r.out.find("READY"), std::string::npos);
  EXPECT_LT(s, 10.0);
  expect_clean(task);
}

TEST_F(Gvisor, MemoryBombUnderTheLimitIsOomKilled) {
  // The cgroup holds the sentry, which backs the payload's memory: the kernel's OOM killer
  // kills the sentry (observed: task=exe, uid 65534, in clawcage/<task>) and the cgroup's
  // counter says so.
  std::string task = gv_name("membomb");
  auto r = run(task, {"/t/escape", "memory-bomb", "1024"}, {"--memory", "64M"});
  EXPECT_EQ(r.record["cause"], "oom_killed") << r.record.dump() << r.err;
  EXPECT_GE(r.record.value("oom_kills", 0), 1);
  EXPECT_EQ(r.exit_code, 137);
  EXPECT_LE(r.record.value("memory_peak_bytes", 0ull), 64ull << 20);
  expect_clean(task);
}

TEST_F(Gvisor, ForkAndFdBombsAreContained) {
  std::string task = gv_name("forkbomb");
  auto r = run(task, {"/t/escape", "fork-bomb", "5000"});
  // The sentry refuses the fork (RLIMIT_NPROC, fitted by the tier under the cgroup's pids
  // limit of 256 host tasks) before the cgroup would refuse runsc a thread; the host keeps
  // forking.
  EXPECT_NE(r.out.find("BLOCKED fork-bomb EAGAIN"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_LE(r.record.value("pids_peak", 0), 256);
  expect_clean(task);
  pid_t p = fork();
  if (p == 0) _exit(0);
  ASSERT_GT(p, 0);
  waitpid(p, nullptr, 0);

  task = gv_name("fdbomb");
  r = run(task, {"/t/escape", "fd-bomb", "100000"});
  EXPECT_NE(r.out.find("BLOCKED fd-bomb EMFILE"), std::string::npos) << r.out << r.err;
  expect_clean(task);
}

TEST_F(Gvisor, PidsLimitTooSmallForRunscIsRefusedUpFront) {
  std::string task = gv_name("pids");
  auto r = run(task, {"/bin/true"}, {"--pids", "64"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("pids"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tier gvisor needs at least"), std::string::npos) << r.err;
  expect_clean(task);
}

TEST_F(Gvisor, OperatorKillForwardsTermAndEndsAsKilled) {
  std::string task = gv_name("operator");
  std::string dir = make_temp_dir("gv-operator");
  std::string out = dir + "/out", record = dir + "/record.json";
  pid_t runner = start_clawcage(
      {"run", "--isolate", "gvisor", "--task", task, "--record", record, "--", "/bin/sh", "-c",
       "trap 'echo got-term; exit 3' TERM; echo ready; "
       "while :; do sleep 0.1; done"},
      out);
  ASSERT_TRUE(poll_until([&] { return read_text(out).find("ready") != std::string::npos; }, 20000))
      << read_text(out);
  kill(runner, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(runner, &status, 0), runner);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 3) << status;
  json rec = json::parse(read_text(record), nullptr, false);
  EXPECT_EQ(rec.value("cause", ""), "killed") << rec.dump();
  EXPECT_EQ(rec.value("killed_by", ""), "operator");
  EXPECT_NE(read_text(out).find("got-term"), std::string::npos);
  expect_clean(task);
  remove_tree(dir);
}

TEST_F(Gvisor, KillNineOfTheRunnerLeavesNothing) {
  std::string task = gv_name("runner-kill9");
  std::string dir = make_temp_dir("gv-kill9");
  std::string out = dir + "/out";
  pid_t runner = start_clawcage({"run", "--isolate", "gvisor", "--task", task, "--", "/bin/sh",
                                 "-c", "echo ready; sleep 100"},
                                out);
  ASSERT_TRUE(poll_until([&] { return read_text(out).find("ready") != std::string::npos; }, 20000));
  EXPECT_FALSE(processes_in_sandbox_cgroups(task).empty());
  // The orphans (runsc's processes, the cleanup guard) are reparented to this process and
  // reaped here: a zombie still shows its cgroup in /proc. (Left to pid 1 they are reaped
  // late on these VMs, and other suites leave this process a subreaper anyway.)
  int was_subreaper = 0;
  prctl(PR_GET_CHILD_SUBREAPER, &was_subreaper, 0, 0, 0);
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  kill(runner, SIGKILL);
  waitpid(runner, nullptr, 0);
  // runsc dies with its runner (parent-death signal; runsc's sandbox and gofer are attached
  // to it) and the cleanup guard removes the cgroup and the state dir.
  std::vector<std::string> left;
  poll_until(
      [&] {
        while (waitpid(-1, nullptr, WNOHANG) > 0) {
        }
        left = leftovers(task);
        return left.empty();
      },
      10000);
  prctl(PR_SET_CHILD_SUBREAPER, was_subreaper, 0, 0, 0);
  EXPECT_TRUE(left.empty()) << task << " left: " << ::testing::PrintToString(left);
  remove_tree(dir);
}

TEST_F(Gvisor, OutputDirIsWrittenAndOwnedByTheMappedRoot) {
  std::string task = gv_name("output");
  std::string out = make_temp_dir("gv-output") + "/out";
  auto r = run(task, {"/bin/sh", "-c", "echo result > /output/answer; mkdir /output/sub"},
               {"--output", out});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_text(out + "/answer"), "result\n");
  struct stat st;
  ASSERT_EQ(stat((out + "/answer").c_str(), &st), 0);
  // Written by the gofer for the sandbox's root, which maps to host uid 100000.
  EXPECT_EQ(st.st_uid, 100000u);
  EXPECT_EQ(st.st_gid, 100000u);
  expect_clean(task);
  remove_tree(out.substr(0, out.rfind('/')));
}

// A volume whose mount point the rootfs lacks: runsc cannot create it in a read-only root,
// so clawcage makes it first, inside the rootfs, as the native tiers do.
TEST_F(Gvisor, VolumesMountWhereTheRootfsHasNoMountPoint) {
  std::string dir = make_temp_dir("gv-mp");
  std::string rootfs = dir + "/rootfs", in = dir + "/in";
  ASSERT_EQ(run_shell("mkdir -p " + rootfs + "/bin " + in + " && cp /bin/busybox " + rootfs +
                      "/bin/ && ln -s busybox " + rootfs + "/bin/sh && ln -s busybox " + rootfs +
                      "/bin/cat && echo data > " + in + "/f && echo file > " + dir + "/single")
                .exit_code,
            0);
  std::string task = gv_name("mountpoint");
  auto r = run_clawcage({"run", "--isolate", "gvisor", "--task", task, "--rootfs", rootfs, "--ro",
                         in + ":/deep/er/in", "--ro", dir + "/single:/one-file", "--", "/bin/sh",
                         "-c", "cat /deep/er/in/f /one-file"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "data\nfile\n");
  struct stat st;
  EXPECT_EQ(stat((rootfs + "/deep/er/in").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(stat((rootfs + "/one-file").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  expect_clean(task);
  remove_tree(dir);
}

// Output to a regular file lands after what the caller wrote before, and before what it
// writes after (the sentry keeps its own offset; clawcage makes the file append-only).
TEST_F(Gvisor, OutputToARegularFileKeepsItsOrder) {
  std::string dir = make_temp_dir("gv-out");
  std::string task = gv_name("outfile");
  auto r = run_shell("(echo before; " + binary() + " run --isolate gvisor --task " + task +
                     " -- /bin/sh -c 'echo one; echo two'; echo after) > " + dir + "/out 2>&1");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(read_text(dir + "/out"), "before\none\ntwo\nafter\n");
  expect_clean(task);
  remove_tree(dir);
}

TEST_F(Gvisor, ReadOnlyVolumeStaysReadOnly) {
  std::string dir = make_temp_dir("gv-ro");
  std::ofstream(dir + "/input.txt") << "data\n";
  for (auto args : std::vector<std::vector<std::string>>{
           {"write", "/in/new-file"}, {"write", "/in/input.txt"}, {"remount-rw", "/in"}}) {
    std::string task = gv_name("ro");
    std::vector<std::string> payload = {"/t/escape"};
    payload.insert(payload.end(), args.begin(), args.end());
    auto r = run(task, payload, {"--ro", dir + ":/in"});
    EXPECT_NE(r.out.find("BLOCKED"), std::string::npos) << args[0] << " " << r.out << r.err;
    expect_clean(task);
  }
  // The host side: nothing new, nothing changed.
  EXPECT_NE(access((dir + "/new-file").c_str(), F_OK), 0);
  EXPECT_EQ(read_text(dir + "/input.txt"), "data\n");
  remove_tree(dir);
}

TEST_F(Gvisor, RootfsAndVolumesUnderRootOnlyDirectoriesWork) {
  // runsc's gofer runs as the sandbox's mapped root (host uid 100000); the engine stages the
  // rootfs and volumes for it, so sources it could not traverse itself still work, as they
  // do in the native tiers (the daemon's data dir is such a place).
  std::string top = make_temp_dir("gv-private");
  ASSERT_EQ(chmod(top.c_str(), 0700), 0);
  ASSERT_EQ(mkdir((top + "/in").c_str(), 0755), 0);
  std::ofstream(top + "/in/input.txt") << "data\n";
  auto cp = run_shell("cp -a /var/lib/clawcage/images/builtin/rootfs " + top + "/rootfs 2>&1");
  ASSERT_EQ(cp.exit_code, 0) << cp.out;
  std::string task = gv_name("private");
  auto r = run_clawcage({"run", "--isolate", "gvisor", "--task", task, "--rootfs", top + "/rootfs",
                         "--ro", top + "/in:/in", "--output", top + "/out", "--", "/bin/sh", "-c",
                         "cat /in/input.txt > /output/copy"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_text(top + "/out/copy"), "data\n");
  expect_clean(task);
  remove_tree(top);
}

// The escape battery's kernel cases under gVisor. The sentry answers the payload's syscalls
// itself, so "blocked" means the sentry (or strict's seccomp, which the sentry enforces)
// refused it; where gVisor allows a call inside its own kernel, the test asserts that the
// host saw nothing of it.
struct Attempt {
  std::string name;
  std::vector<std::string> args;  // after /t/escape
  bool blocked;
  const char* why;
};

TEST_F(Gvisor, KernelEscapesAreBlocked) {
  const std::vector<Attempt> attempts = {
      {"mount", {"mount"}, true, "strict seccomp (sentry): EPERM"},
      {"unshare-user", {"unshare-user"}, true, "strict seccomp: EPERM"},
      {"unshare-mount", {"unshare-mount"}, true, "strict seccomp: EPERM"},
      {"unshare-net", {"unshare-net"}, true, "strict seccomp: EPERM"},
      {"clone-newuser", {"clone-newuser"}, true, "strict seccomp: EPERM"},
      {"setns", {"setns", "/proc/self/ns/net"}, true, "strict seccomp: EPERM"},
      // gVisor 20221219 lets a task without CAP_MKNOD make a device node on its own tmpfs:
      // the node lives in the sentry's memory and opens the sentry's own device (1,3 is its
      // null), never a host device. Checked below that no node reaches the host.
      {"mknod", {"mknod"}, false, "sentry tmpfs only; no host node"},
      {"ptrace-host", {"ptrace", std::to_string(getpid())}, true, "seccomp; host pids invisible"},
      {"keyctl", {"keyctl"}, true, "strict seccomp: EPERM"},
      {"add_key", {"add_key"}, true, "strict seccomp: EPERM"},
      {"io_uring", {"io_uring"}, true, "strict seccomp: EPERM"},
      {"bpf", {"bpf"}, true, "strict seccomp: EPERM"},
      {"chroot-out", {"chroot"}, true, "strict seccomp: EPERM"},
      {"setuid", {"setuid", "1000"}, true, "strict seccomp: EPERM"},
      {"write-rootfs", {"write", "/bin/escape-planted"}, true, "read-only root"},
      {"host-fds", {"fds"}, true, "only stdio crosses into the sentry"},
      {"write-sysctl", {"write", "/proc/sys/kernel/hostname"}, true, "sentry /proc"},
      {"write-sysrq", {"write", "/proc/sysrq-trigger"}, true, "sentry /proc"},
      {"write-sysfs",
       {"write", "/sys/kernel/mm/transparent_hugepage/enabled"},
       true,
       "sentry /sys has no such knob"},
      {"int80", {"int80"}, true, "the sentry does not serve the 32-bit ABI"},
      {"connect-host-ssh", {"connect", "22"}, true, "--network none: the sentry's own loopback"},
  };
  // A host fd without O_CLOEXEC, as a careless parent would leave one: it must not arrive.
  int leaked = open("/etc/hostname", O_RDONLY);
  ASSERT_GE(leaked, 0);
  std::string hostname_before = read_text("/proc/sys/kernel/hostname");
  for (const auto& a : attempts) {
    std::string task = gv_name(a.name);
    std::vector<std::string> payload = {"/t/escape"};
    payload.insert(payload.end(), a.args.begin(), a.args.end());
    auto r = run(task, payload);
    std::string verdict = a.blocked ? "BLOCKED" : "ESCAPED";
    EXPECT_NE(r.out.find(verdict), std::string::npos)
        << a.name << " (" << a.why << "): out=" << r.out << " err=" << r.err;
    EXPECT_EQ(r.exit_code, a.blocked ? 0 : 1) << a.name << " " << r.err;
    expect_clean(task);
  }
  close(leaked);
  // Host-side effects of the lot: none.
  EXPECT_EQ(read_text("/proc/sys/kernel/hostname"), hostname_before);
  EXPECT_NE(access("/tmp/escape-null", F_OK), 0);
  EXPECT_NE(access((testcases_dir() + "/escape-planted").c_str(), F_OK), 0);
}

TEST_F(Gvisor, DeviceNodesNeverReachHostVolumes) {
  // On a writable volume the gofer creates files on the host: it refuses device nodes.
  std::string task = gv_name("mknod-volume");
  std::string out = make_temp_dir("gv-mknod") + "/out";
  auto r = run(
      task,
      {"/bin/sh", "-c", "mknod /output/null c 1 3; echo c=$?; mknod /output/sda b 8 0; echo b=$?"},
      {"--output", out});
  EXPECT_EQ(r.out, "c=1\nb=1\n") << r.err;
  DIR* d = opendir(out.c_str());
  ASSERT_NE(d, nullptr);
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    struct stat st;
    ASSERT_EQ(lstat((out + "/" + n).c_str(), &st), 0);
    EXPECT_FALSE(S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) << n;
  }
  closedir(d);
  expect_clean(task);
  remove_tree(out.substr(0, out.rfind('/')));
}

TEST_F(Gvisor, HostProcessesSocketsAndNetworkAreOutOfReach) {
  // A host process to aim at: its pid means nothing inside the sentry.
  pid_t victim = fork();
  if (victim == 0) {
    for (int i = 0; i < 300; ++i) sleep(1);
    _exit(0);
  }
  ASSERT_GT(victim, 0);
  std::string task = gv_name("kill-host");
  auto r = run(task, {"/t/escape", "kill", std::to_string(victim)});
  EXPECT_NE(r.out.find("BLOCKED"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(::kill(victim, 0), 0) << "the host process died";
  expect_clean(task);

  // A host abstract unix socket (the sentry has its own socket namespace).
  std::string name = gv_name("abstract");
  int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path + 1, name.data(), name.size());
  socklen_t len = offsetof(sockaddr_un, sun_path) + 1 + name.size();
  ASSERT_EQ(bind(ls, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(listen(ls, 4), 0);
  task = gv_name("abstract");
  r = run(task, {"/t/escape", "connect-abstract", name});
  EXPECT_NE(r.out.find("BLOCKED"), std::string::npos) << r.out << r.err;
  close(ls);
  expect_clean(task);

  // The payload sees only its own processes.
  task = gv_name("ps");
  r = run(task, {"/bin/sh", "-c", "ls /proc | grep -c '^[0-9]'"});
  EXPECT_LE(atoi(r.out.c_str()), 4) << r.out;
  expect_clean(task);
  ::kill(victim, SIGKILL);
  waitpid(victim, nullptr, 0);
}

TEST_F(Gvisor, TempFilesDoNotBleedBetweenTasks) {
  std::string a = gv_name("tmp-a"), b = gv_name("tmp-b");
  auto r = run(a, {"/bin/sh", "-c", "echo secret > /tmp/left-behind"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run(b, {"/bin/sh", "-c", "cat /tmp/left-behind"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out.find("secret"), std::string::npos);
  expect_clean(a);
  expect_clean(b);
}

// Without runsc the error says so and nothing is created: no cgroup, no state dir.
TEST(GvisorWithoutRunsc, ErrorNamesRunscAndLeavesNothing) {
  std::string task = gv_name("no-runsc");
  setenv("CLAWCAGE_RUNSC", "/nonexistent/runsc", 1);
  auto r = run_clawcage({"run", "--isolate", "gvisor", "--task", task, "--", "/bin/true"});
  unsetenv("CLAWCAGE_RUNSC");
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("runsc"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("/nonexistent/runsc"), std::string::npos) << r.err;
  EXPECT_EQ(r.record.value("cause", ""), "spawn_failed") << r.record.dump();
  expect_clean(task);

  // Not on PATH either: the message says it is not installed.
  task = gv_name("no-runsc-path");
  std::string path = getenv("PATH") ? getenv("PATH") : "";
  setenv("PATH", "/nonexistent", 1);
  r = run_clawcage({"run", "--isolate", "gvisor", "--task", task, "--", "/bin/true"});
  setenv("PATH", path.c_str(), 1);
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("runsc is not installed"), std::string::npos) << r.err;
  expect_clean(task);
}

TEST(GvisorFronts, OciFrontAndExecRefuseTheTier) {
  std::string task = gv_name("oci");
  std::string bundle = make_temp_dir("gv-oci");
  auto spec = run_clawcage({"oci", "spec", "--bundle", bundle, "--isolate", "gvisor"}, 30, false);
  auto r =
      run_clawcage({"oci", "create", "--bundle", bundle, "--isolate", "gvisor", task}, 30, false);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("gvisor"), std::string::npos) << r.err;
  expect_clean(task);
  remove_tree(bundle);
  if (!runsc_installed()) return;

  // exec into a running gvisor sandbox: refused, naming the tier.
  task = gv_name("exec");
  std::string dir = make_temp_dir("gv-exec");
  pid_t runner = start_clawcage({"run", "--isolate", "gvisor", "--task", task, "--", "/bin/sh",
                                 "-c", "echo ready; sleep 100"},
                                dir + "/out");
  ASSERT_TRUE(poll_until([&] { return read_text(dir + "/out").find("ready") != std::string::npos; },
                         20000));
  r = run_clawcage({"oci", "exec", task, "--", "/bin/true"}, 30, false);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("tier gvisor"), std::string::npos) << r.err;
  kill(runner, SIGTERM);
  waitpid(runner, nullptr, 0);
  expect_clean(task);
  remove_tree(dir);
}

// The daemon: "tier":"gvisor" runs under runsc; health checks are refused at submit; a
// kill -9 of the daemon and a restart re-adopt the task, whose SIGTERM still reaches the
// payload (runsc kill), and nothing is left afterwards.
TEST(GvisorDaemon, SubmitKillNineRestartAndNothingLeft) {
  if (!runsc_installed()) GTEST_SKIP() << "runsc is not installed";
  DaemonProcess d;
  ASSERT_TRUE(d.start());
  api::Client c = d.client();
  std::string id = gv_name("daemon");
  auto health = c.request("POST", "/v1/tasks",
                          json{{"id", id + "-health"},
                               {"tier", "gvisor"},
                               {"command", {"/bin/sleep", "5"}},
                               {"health", {{"command", {"/bin/true"}}}}}
                              .dump());
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 400) << health->body;
  EXPECT_NE(health->body.find("gvisor"), std::string::npos) << health->body;

  auto sub = c.request(
      "POST", "/v1/tasks",
      json{{"id", id},
           {"tier", "gvisor"},
           {"deadline", "60s"},
           {"command",
            {"/bin/sh", "-c",
             "trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 0.1; done"}}}
          .dump());
  ASSERT_TRUE(sub);
  ASSERT_EQ(sub->status, 201) << sub->body;
  std::string stdout_log = d.data_dir() + "/logs/" + id + ".stdout";
  ASSERT_TRUE(
      poll_until([&] { return read_text(stdout_log).find("ready") != std::string::npos; }, 20000))
      << d.log();
  auto got = c.request("GET", "/v1/tasks/" + id);
  ASSERT_TRUE(got);
  EXPECT_EQ(json::parse(got->body, nullptr, false).value("tier", ""), "gvisor") << got->body;

  // A second task that ends while the daemon is down: reconciled after the restart.
  std::string short_id = id + "-short";
  auto sub2 = c.request(
      "POST", "/v1/tasks",
      json{{"id", short_id}, {"tier", "gvisor"}, {"command", {"/bin/sh", "-c", "echo up; sleep 1"}}}
          .dump());
  ASSERT_TRUE(sub2);
  ASSERT_EQ(sub2->status, 201) << sub2->body;
  std::string short_log = d.data_dir() + "/logs/" + short_id + ".stdout";
  ASSERT_TRUE(
      poll_until([&] { return read_text(short_log).find("up") != std::string::npos; }, 20000));

  d.kill9();
  sleep(2);
  ASSERT_TRUE(d.start());
  api::Client c2 = d.client();
  auto k = c2.request("POST", "/v1/tasks/" + id + "/kill", json{{"signal", "TERM"}}.dump());
  ASSERT_TRUE(k);
  EXPECT_LT(k->status, 300) << k->body;
  auto ws = c2.request("GET", "/v1/tasks/" + short_id + "/wait?timeout=30");
  ASSERT_TRUE(ws);
  json short_done = json::parse(ws->body, nullptr, false);
  EXPECT_TRUE(short_done.is_object() && short_done.contains("result")) << ws->body;
  auto w = c2.request("GET", "/v1/tasks/" + id + "/wait?timeout=30");
  ASSERT_TRUE(w);
  json done = json::parse(w->body, nullptr, false);
  ASSERT_TRUE(done.is_object()) << w->body;
  EXPECT_EQ(done["result"].value("cause", ""), "killed") << done.dump();
  EXPECT_NE(read_text(stdout_log).find("got-term"), std::string::npos) << read_text(stdout_log);
  std::vector<std::string> left;
  poll_until(
      [&] {
        left = d.leftovers();
        return left.empty();
      },
      10000);
  EXPECT_TRUE(left.empty()) << ::testing::PrintToString(left);
  for (const auto& p : processes_with_cmdline(id)) ADD_FAILURE() << "process left: " << p;
}

// What a crashed gvisor sandbox leaves in its state dir (runsc's --root files, the bundle,
// the empty staging dir) goes with `clawcage gc --reap`, as the cleanup guard runs it.
TEST(GvisorGc, ReapRemovesRunscState) {
  std::string id = gv_name("gc");
  std::string dir = "/run/clawcage/" + id;
  ASSERT_EQ(mkdir(dir.c_str(), 0711), 0);
  for (const char* sub : {"/runsc", "/bundle", "/volumes"})
    ASSERT_EQ(mkdir((dir + sub).c_str(), 0700), 0);
  std::ofstream(dir + "/runsc/" + id + "_sandbox:" + id + ".state") << "{}";
  std::ofstream(dir + "/runsc/" + id + "_sandbox:" + id + ".lock");
  std::ofstream(dir + "/bundle/config.json") << "{}";
  std::ofstream(dir + "/state.json") << "{\"id\":\"" << id << "\",\"runsc\":\"/usr/bin/runsc\"}";
  auto r = run_clawcage({"gc", "--reap", id}, 30, false);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(access(dir.c_str(), F_OK), 0) << "state dir left";
  expect_clean(id);
}

}  // namespace
}  // namespace clawcage::test
