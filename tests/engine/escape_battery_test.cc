// The escape and leak battery: for each tier, try the escape and assert it fails the way
// the tier promises (or, for the chroot tier, that the documented gap is really there).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "support/run_clawcage.h"

namespace clawcage::test {
namespace {

enum class Expect { blocked, escaped };

struct Attempt {
  std::string name;
  std::vector<std::string> args;  // after /t/escape
  Expect chroot, container, strict;
};

std::string tier_name(int i) {
  return i == 0 ? "chroot" : i == 1 ? "container" : "strict";
}

class Battery : public ::testing::TestWithParam<int> {
 protected:
  std::string tier() const { return tier_name(GetParam()); }

  RunOutput attempt(const std::string& task, std::vector<std::string> escape_args,
                    std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"run",
                                     "--isolate",
                                     tier(),
                                     "--task",
                                     task,
                                     "--ro",
                                     testcases_dir() + ":/t:exec",
                                     "--pids",
                                     "64",
                                     "--memory",
                                     "128M",
                                     "--timeout",
                                     "20s"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back("--");
    args.push_back("/t/escape");
    args.insert(args.end(), escape_args.begin(), escape_args.end());
    return run_clawcage(args);
  }

  void expect_clean(const std::string& task) {
    EXPECT_TRUE(leftover_cgroups(task).empty()) << "cgroups left for " << task;
    EXPECT_TRUE(processes_in_sandbox_cgroups(task).empty()) << "processes left for " << task;
    EXPECT_TRUE(leftover_mounts(task).empty()) << "mounts left for " << task;
    EXPECT_NE(access(("/run/clawcage/" + task).c_str(), F_OK), 0) << "state dir left for " << task;
  }
};

// The kernel escapes every tier is tried with, from its init and from an exec.
std::vector<Attempt> kernel_attempts() {
  return {
      {"mount", {"mount"}, Expect::blocked, Expect::blocked, Expect::blocked},
      {"unshare-user", {"unshare-user"}, Expect::blocked, Expect::blocked, Expect::blocked},
      {"unshare-mount", {"unshare-mount"}, Expect::blocked, Expect::blocked, Expect::blocked},
      {"unshare-net", {"unshare-net"}, Expect::blocked, Expect::blocked, Expect::blocked},
      {"clone-newuser", {"clone-newuser"}, Expect::blocked, Expect::blocked, Expect::blocked},
      {"setns", {"setns", "/proc/self/ns/net"}, Expect::blocked, Expect::blocked, Expect::blocked},
      {"mknod", {"mknod"}, Expect::blocked, Expect::blocked, Expect::blocked},
      {"ptrace-host",
       {"ptrace", std::to_string(getpid())},
       Expect::blocked,
       Expect::blocked,
       Expect::blocked},
      // chroot tier has no seccomp: the session keyring and io_uring are reachable. Documented.
      {"keyctl", {"keyctl"}, Expect::escaped, Expect::blocked, Expect::blocked},
      {"add_key", {"add_key"}, Expect::escaped, Expect::blocked, Expect::blocked},
      {"io_uring", {"io_uring"}, Expect::escaped, Expect::blocked, Expect::blocked},
      {"bpf", {"bpf"}, Expect::blocked, Expect::blocked, Expect::blocked},
      {"chroot-out", {"chroot"}, Expect::blocked, Expect::blocked, Expect::blocked},
      // uid changes: chroot has no CAP_SETUID, container does (namespaced), strict's
      // seccomp forbids them after start.
      {"setuid", {"setuid", "1000"}, Expect::blocked, Expect::escaped, Expect::blocked},
      {"write-rootfs",
       {"write", "/bin/escape-planted"},
       Expect::blocked,
       Expect::blocked,
       Expect::blocked},
      {"host-fds", {"fds"}, Expect::blocked, Expect::blocked, Expect::blocked},
      // Kernel knobs: sysctls, the magic SysRq trigger, sysfs.
      {"write-sysctl",
       {"write", "/proc/sys/kernel/hostname"},
       Expect::blocked,
       Expect::blocked,
       Expect::blocked},
      {"write-sysrq",
       {"write", "/proc/sysrq-trigger"},
       Expect::blocked,
       Expect::blocked,
       Expect::blocked},
      {"write-sysfs",
       {"write", "/sys/kernel/mm/transparent_hugepage/enabled"},
       Expect::blocked,
       Expect::blocked,
       Expect::blocked},
  };
}

Expect expected(const Attempt& a, int tier) {
  return tier == 0 ? a.chroot : tier == 1 ? a.container : a.strict;
}

TEST_P(Battery, KernelEscapes) {
  const std::vector<Attempt> attempts = kernel_attempts();
  // A host fd without O_CLOEXEC, as a careless parent would leave one: it must not arrive.
  int leaked = open("/etc/hostname", O_RDONLY);
  ASSERT_GE(leaked, 0);
  for (const auto& a : attempts) {
    std::string task = unique_name(a.name);
    auto r = attempt(task, a.args);
    Expect want = expected(a, GetParam());
    std::string verdict = want == Expect::blocked ? "BLOCKED" : "ESCAPED";
    EXPECT_NE(r.out.find(verdict), std::string::npos)
        << tier() << " " << a.name << ": out=" << r.out << " err=" << r.err;
    EXPECT_EQ(r.exit_code, want == Expect::blocked ? 0 : 1)
        << tier() << " " << a.name << " " << r.err;
    expect_clean(task);
  }
  close(leaked);
}

// A process exec'd into a running sandbox (`clawcage oci exec`) is held to the same promises
// as its init: every kernel escape ends the same way, and no host fd reaches it.
TEST_P(Battery, KernelEscapesFromAnExec) {
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  std::string task = unique_name("exec-battery");
  pid_t runner = start_clawcage({"run", "--isolate", tier(), "--task", task, "--ro",
                                 testcases_dir() + ":/t:exec", "--pids", "64", "--memory", "128M",
                                 "--timeout", "120s", "--", "/bin/sleep", "120"});
  bool running = false;
  for (int i = 0; i < 500 && !running; ++i) {
    auto st = run_clawcage({"oci", "state", task}, 10, false);
    running = st.exit_code == 0 && st.out.find("\"running\"") != std::string::npos;
    if (!running) usleep(10000);
  }
  ASSERT_TRUE(running) << "sandbox " << task << " did not start";
  int leaked = open("/etc/hostname", O_RDONLY);
  ASSERT_GE(leaked, 0);
  for (const auto& a : kernel_attempts()) {
    std::vector<std::string> args = {"oci", "exec", task, "--", "/t/escape"};
    args.insert(args.end(), a.args.begin(), a.args.end());
    auto r = run_clawcage(args, 30, false);
    Expect want = expected(a, GetParam());
    std::string verdict = want == Expect::blocked ? "BLOCKED" : "ESCAPED";
    EXPECT_NE(r.out.find(verdict), std::string::npos)
        << tier() << " exec " << a.name << ": out=" << r.out << " err=" << r.err;
    EXPECT_EQ(r.exit_code, want == Expect::blocked ? 0 : 1)
        << tier() << " exec " << a.name << " " << r.err;
  }
  close(leaked);
  // Killing the sandbox ends what was exec'd into it: it lives in the sandbox's cgroup.
  // (Its stdio goes to /dev/null: a detached exec keeps what it inherits, as runc's does.)
  pid_t bg = start_clawcage({"oci", "exec", "--detach", task, "--", "/bin/sleep", "300"});
  int bg_status = -1;
  ASSERT_EQ(waitpid(bg, &bg_status, 0), bg);
  ASSERT_TRUE(WIFEXITED(bg_status) && WEXITSTATUS(bg_status) == 0);
  EXPECT_EQ(processes_in_sandbox_cgroups(task).size(), 2u);
  kill(runner, SIGTERM);
  // The detached exec's process was orphaned when `oci exec` returned; this test, a
  // subreaper, reaps it (pid 1 here reaps late). The sandbox's init cannot finish exiting
  // before that zombie of its pid namespace is reaped, so reap while waiting for the runner.
  bool runner_done = false;
  for (int i = 0; i < 1000 && (!runner_done || !processes_in_sandbox_cgroups(task).empty()); ++i) {
    for (pid_t p; (p = waitpid(-1, nullptr, WNOHANG)) > 0;) runner_done |= p == runner;
    usleep(10000);
  }
  EXPECT_TRUE(runner_done);
  prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
  expect_clean(task);
}

TEST_P(Battery, ReadOnlyVolumeStaysReadOnly) {
  std::string dir = make_temp_dir("ro");
  std::ofstream(dir + "/input.txt") << "data\n";
  for (auto args : std::vector<std::vector<std::string>>{
           {"write", "/in/new-file"}, {"write", "/in/input.txt"}, {"remount-rw", "/in"}}) {
    std::string task = unique_name("ro");
    auto r = attempt(task, args, {"--ro", dir + ":/in"});
    EXPECT_NE(r.out.find("BLOCKED"), std::string::npos)
        << tier() << " " << args[0] << r.out << r.err;
    EXPECT_EQ(r.exit_code, 0);
    expect_clean(task);
  }
  EXPECT_NE(access((dir + "/new-file").c_str(), F_OK), 0);
  EXPECT_NE(access((dir + "/escape-after-remount").c_str(), F_OK), 0);
  // noexec by default: a binary planted on a shared input does not run.
  std::string task = unique_name("noexec");
  remove_tree(dir);
  dir = make_temp_dir("noexec");
  std::ifstream src(testcases_dir() + "/escape", std::ios::binary);
  std::ofstream(dir + "/planted", std::ios::binary) << src.rdbuf();
  chmod((dir + "/planted").c_str(), 0755);
  auto r = run_clawcage({"run", "--isolate", tier(), "--task", task, "--ro", dir + ":/in", "--",
                         "/in/planted", "fds"});
  EXPECT_EQ(r.exit_code, 126) << r.out << r.err;
  EXPECT_EQ(r.record.value("cause", ""), "spawn_failed");
  expect_clean(task);
  remove_tree(dir);
}

TEST_P(Battery, HostProcessesAndNetwork) {
  // A listener on the host's loopback: the sandbox must not reach it (chroot tier: it does).
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  ASSERT_EQ(bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  listen(s, 4);
  std::string task = unique_name("net");
  auto r = attempt(task, {"connect", std::to_string(ntohs(a.sin_port))});
  close(s);
  std::string want = tier() == "chroot" ? "ESCAPED" : "BLOCKED";
  EXPECT_NE(r.out.find(want), std::string::npos) << tier() << r.out << r.err;
  expect_clean(task);

  // Host processes: the sandbox sees only its own in /proc (chroot tier: all of them).
  task = unique_name("ps");
  auto ps = run_clawcage({"run", "--isolate", tier(), "--task", task, "--", "/bin/sh", "-c",
                          "ls -d /proc/[0-9]* | wc -l"});
  ASSERT_EQ(ps.exit_code, 0) << ps.err;
  int count = std::stoi(ps.out);
  if (tier() == "chroot")
    EXPECT_GT(count, 10);
  else
    EXPECT_LE(count, 3) << ps.out;
  expect_clean(task);
}

TEST_P(Battery, ForkBombIsContainedAndHostUnharmed) {
  std::string task = unique_name("forkbomb");
  auto r = attempt(task, {"fork-bomb", "5000"});
  EXPECT_NE(r.out.find("BLOCKED fork-bomb EAGAIN"), std::string::npos) << r.out << r.err;
  EXPECT_LE(r.record.value("pids_peak", 0), 64);
  expect_clean(task);
  // The host can still fork.
  pid_t p = fork();
  if (p == 0) _exit(0);
  ASSERT_GT(p, 0);
  waitpid(p, nullptr, 0);
}

TEST_P(Battery, MemoryBombIsReportedAsOomKilled) {
  std::string task = unique_name("membomb");
  auto r = attempt(task, {"memory-bomb", "1024"}, {"--memory", "64M"});
  EXPECT_EQ(r.record.value("cause", ""), "oom_killed") << r.record.dump() << r.err;
  EXPECT_EQ(r.exit_code, 137);
  EXPECT_GE(r.record.value("oom_kills", 0), 1);
  expect_clean(task);
}

TEST_P(Battery, FdBombIsContained) {
  std::string task = unique_name("fdbomb");
  auto r = attempt(task, {"fd-bomb", "100000"});
  EXPECT_NE(r.out.find("BLOCKED fd-bomb EMFILE"), std::string::npos) << r.out << r.err;
  expect_clean(task);
}

TEST_P(Battery, TimeoutKillsTermIgnoringDoubleForkedTree) {
  std::string task = unique_name("timeout");
  // The task name rides along as an ignored argument so the process check is ours alone.
  auto r = attempt(task, {"ignore-term", task}, {"--timeout", "1s", "--kill-grace", "200ms"});
  EXPECT_EQ(r.record.value("cause", ""), "timeout") << r.record.dump() << r.err;
  EXPECT_EQ(r.record.value("killed_by", ""), "deadline");
  EXPECT_EQ(r.exit_code, 137);
  EXPECT_NE(r.out.find("READY"), std::string::npos);
  expect_clean(task);
  EXPECT_TRUE(processes_with_cmdline("ignore-term " + task).empty());
}

TEST_P(Battery, ConcurrentTasksCannotSeeEachOthersScratchOrOutput) {
  std::string out_a = make_temp_dir("outa");
  std::string task_a = unique_name("owner");
  // Task A writes a secret into its scratch and output, then stays alive.
  std::thread a([&] {
    run_clawcage({"run", "--isolate", tier(), "--task", task_a, "--scratch", "8M", "--output",
                  out_a + "/o", "--timeout", "20s", "--", "/bin/sh", "-c",
                  "echo secret > /scratch/s; echo secret > /output/s; sleep 4"});
  });
  // Wait until A's output exists.
  for (int i = 0; i < 100 && access((out_a + "/o/s").c_str(), F_OK) != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_EQ(access((out_a + "/o/s").c_str(), F_OK), 0);
  std::string task_b = unique_name("snoop");
  // B looks for A's files by host path and, where /proc shows host pids, through /proc/PID/root.
  auto r =
      run_clawcage({"run", "--isolate", tier(), "--task", task_b, "--", "/bin/sh", "-c",
                    "cat " + out_a +
                        "/o/s /scratch/s 2>/dev/null; for p in /proc/[0-9]*; do "
                        "cat $p/root/scratch/s $p/root/output/s 2>/dev/null; done; echo done"});
  a.join();
  EXPECT_EQ(r.out.find("secret"), std::string::npos) << tier() << ": " << r.out;
  EXPECT_NE(r.out.find("done"), std::string::npos) << r.err;
  // A's output is owned by A's sandbox root and closed to others.
  struct stat st;
  ASSERT_EQ(stat((out_a + "/o").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  expect_clean(task_a);
  expect_clean(task_b);
  remove_tree(out_a);
}

TEST_P(Battery, TerminalInjectionIsBlocked) {
  // clawcage run with a real terminal as its stdin and controlling tty, as a user at a shell.
  int master = -1, slave = -1;
  ASSERT_EQ(openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
  std::string task = unique_name("tty");
  pid_t pid = fork();
  if (pid == 0) {
    setsid();
    ioctl(slave, TIOCSCTTY, 0);
    dup2(slave, 0);
    dup2(slave, 1);
    dup2(slave, 2);
    std::string tc = testcases_dir() + ":/t:exec";
    execl(binary().c_str(), binary().c_str(), "run", "--isolate", tier().c_str(), "--task",
          task.c_str(), "--ro", tc.c_str(), "--", "/t/escape", "tiocsti", nullptr);
    _exit(126);
  }
  close(slave);
  std::string out;
  char buf[4096];
  for (int i = 0; i < 200; ++i) {
    pollfd p = {master, POLLIN, 0};
    if (poll(&p, 1, 50) > 0) {
      ssize_t n = read(master, buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, n);
    }
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      pid = -1;
      break;
    }
  }
  if (pid > 0) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  close(master);
  EXPECT_NE(out.find("BLOCKED tiocsti EPERM"), std::string::npos) << tier() << ": " << out;
  expect_clean(task);
}

TEST_P(Battery, CannotSignalAnotherTaskOrReachHostAbstractSockets) {
  // A victim task in the container tier, running under the same host uid (100000).
  std::string victim = unique_name("victim");
  pid_t runner =
      start_clawcage({"run", "--task", victim, "--timeout", "20s", "--", "/bin/sleep", "10"});
  std::vector<int> pids;
  for (int i = 0; i < 200 && (pids = processes_in_sandbox_cgroups(victim)).empty(); ++i)
    usleep(10000);
  ASSERT_FALSE(pids.empty());
  std::string task = unique_name("signaller");
  auto r = attempt(task, {"kill", std::to_string(pids.front())});
  EXPECT_NE(r.out.find("BLOCKED kill"), std::string::npos) << tier() << ": " << r.out << r.err;
  EXPECT_TRUE(processes_with_cmdline("--task " + victim).size() > 0 ||
              !processes_in_sandbox_cgroups(victim).empty())
      << "the victim died";
  // A host service on an abstract unix socket (the chroot tier shares the host's network
  // namespace, where such sockets live): not reachable from any tier.
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un u{};
  u.sun_family = AF_UNIX;
  std::string name = "clawcage-test-" + std::to_string(getpid()) + "-" + tier();
  std::memcpy(u.sun_path + 1, name.data(), name.size());
  ASSERT_EQ(bind(s, reinterpret_cast<sockaddr*>(&u),
                 static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size())),
            0);
  listen(s, 4);
  std::string task2 = unique_name("abstract");
  auto c = attempt(task2, {"connect-abstract", name});
  close(s);
  EXPECT_NE(c.out.find("BLOCKED connect-abstract"), std::string::npos)
      << tier() << ": " << c.out << c.err;
  kill(runner, SIGTERM);
  waitpid(runner, nullptr, 0);
  expect_clean(task);
  expect_clean(task2);
  expect_clean(victim);
}

TEST_P(Battery, ThirtyTwoBitSyscallsKillTheProcess) {
  std::string task = unique_name("int80");
  auto r = attempt(task, {"int80"});
  if (tier() == "chroot") {
    // No seccomp in the chroot tier: the 32-bit ABI is open (documented).
    EXPECT_NE(r.out.find("ESCAPED int80"), std::string::npos) << r.out << r.err;
  } else {
    EXPECT_EQ(r.exit_code, 128 + SIGSYS) << r.out << r.err;
    EXPECT_EQ(r.record.value("cause", ""), "signaled");
  }
  expect_clean(task);
}

TEST_P(Battery, ImageSymlinksCannotAimMountsAtTheHost) {
  // An image whose /evil is an absolute symlink to a host directory: a volume mounted at
  // /evil/sub must land inside the image (RESOLVE_IN_ROOT), never on the host
  // (CVE-2021-30465 class).
  std::string host_target = make_temp_dir("hosttarget");
  std::string rootfs = make_temp_dir("evilroot");
  ASSERT_EQ(mkdir((rootfs + "/bin").c_str(), 0755), 0);
  {
    std::ifstream src("/var/lib/clawcage/images/builtin/rootfs/bin/busybox", std::ios::binary);
    std::ofstream dst(rootfs + "/bin/busybox", std::ios::binary);
    dst << src.rdbuf();
  }
  chmod((rootfs + "/bin/busybox").c_str(), 0755);
  ASSERT_EQ(symlink("busybox", (rootfs + "/bin/sh").c_str()), 0);
  ASSERT_EQ(symlink(host_target.c_str(), (rootfs + "/evil").c_str()), 0);
  std::string input = make_temp_dir("evilinput");
  // 1. The link's target does not exist in the image: refused, with the path named.
  std::string task = unique_name("evil");
  auto r = run_clawcage({"run", "--isolate", tier(), "--task", task, "--rootfs", rootfs, "--ro",
                         input + ":/evil/sub", "--", "/bin/sh", "-c", "echo ran"});
  EXPECT_EQ(r.exit_code, 125) << r.out << r.err;
  EXPECT_NE(r.err.find("/evil/sub"), std::string::npos) << r.err;
  EXPECT_NE(access((host_target + "/sub").c_str(), F_OK), 0)
      << "a mount point was made on the host";
  expect_clean(task);
  // 2. It exists in the image: the mount lands there, inside the image.
  std::string in_image = "/clawcage-evil-target-" + std::to_string(getpid());
  ASSERT_EQ(mkdir((rootfs + in_image).c_str(), 0755), 0);
  ASSERT_EQ(unlink((rootfs + "/evil").c_str()), 0);
  ASSERT_EQ(symlink(in_image.c_str(), (rootfs + "/evil").c_str()), 0);
  task = unique_name("evil2");
  r = run_clawcage({"run", "--isolate", tier(), "--task", task, "--rootfs", rootfs, "--ro",
                    input + ":/evil/sub", "--", "/bin/sh", "-c", "echo ran"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ran\n");
  EXPECT_NE(access(in_image.c_str(), F_OK), 0) << "created on the host: " << in_image;
  EXPECT_EQ(access((rootfs + in_image + "/sub").c_str(), F_OK), 0) << "expected inside the image";
  expect_clean(task);
  remove_tree(rootfs);
  remove_tree(host_target);
  remove_tree(input);
}

TEST_P(Battery, TempFilesDoNotBleedBetweenTasks) {
  std::string a = unique_name("tmpa");
  auto w =
      run_clawcage({"run", "--isolate", tier(), "--task", a, "--", "/bin/sh", "-c",
                    "echo leak > /tmp/leak; echo leak > /var/tmp/leak; echo leak > /leak; true"});
  EXPECT_EQ(w.exit_code, 0) << w.err;
  std::string b = unique_name("tmpb");
  auto r = run_clawcage({"run", "--isolate", tier(), "--task", b, "--", "/bin/sh", "-c",
                         "cat /tmp/leak /var/tmp/leak /leak 2>/dev/null; echo end"});
  EXPECT_EQ(r.out, "end\n") << tier();
  EXPECT_NE(access("/var/lib/clawcage/images/builtin/rootfs/leak", F_OK), 0);
  EXPECT_NE(access("/var/lib/clawcage/images/builtin/rootfs/var/tmp/leak", F_OK), 0);
  expect_clean(a);
  expect_clean(b);
}

INSTANTIATE_TEST_SUITE_P(Tiers, Battery, ::testing::Values(0, 1, 2),
                         [](const auto& info) { return tier_name(info.param); });

}  // namespace
}  // namespace clawcage::test
