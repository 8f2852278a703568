// The runc-compatible front: the binary installed as clawcage-runc[-TIER], runc's global
// flags and verbs, as containerd's shim and podman call them. Kernel-side checks: pids in the
// sandbox's cgroup, the freezer's state, fds that reach the payload.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/run_clawcage.h"

namespace clawcage::test {
namespace {

using json = nlohmann::json;

struct Shell {
  int rc = -1;
  std::string out;
};

Shell shell(const std::string& command) {
  RunOutput r = run_shell("timeout 60 " + command + " 2>&1");
  return {r.exit_code, r.out};
}

class OciRuntime : public ::testing::Test {
 protected:
  void SetUp() override {
    // Detached inits outlive the runtime's commands; this test reaps them, as a shim would.
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    dir_ = make_temp_dir("runc");
    root_ = dir_ + "/state";
    bundle_ = dir_ + "/bundle";
    mkdir(bundle_.c_str(), 0755);
    ASSERT_EQ(symlink("/var/lib/clawcage/images/builtin/rootfs", (bundle_ + "/rootfs").c_str()), 0);
    for (const char* name : {"clawcage-runc", "clawcage-runc-strict"})
      ASSERT_EQ(symlink(binary().c_str(), (dir_ + "/" + name).c_str()), 0);
    write_config("sleep 60", true);
  }
  void TearDown() override {
    shell(runc() + " list -q | xargs -r -n1 " + runc() + " delete -f");
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    // The root's cgroup parent (clawcage-root-<hash>), once empty.
    shell("rmdir /sys/fs/cgroup/*/clawcage-root-* 2>/dev/null");
    prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);  // later tests in this process expect none
    remove_tree(dir_);
  }
  void write_config(const std::string& script, bool tier_annotation) {
    auto spec = run_clawcage({"spec", "--", "/bin/sh", "-c", script}, 30, false);
    ASSERT_EQ(spec.exit_code, 0) << spec.err;
    json j = json::parse(spec.out);
    if (!tier_annotation) j["annotations"].erase("run.clawcage.tier");
    std::ofstream(bundle_ + "/config.json") << j.dump(2);
  }
  std::string runc(const std::string& name = "clawcage-runc") const {
    return dir_ + "/" + name + " --root " + root_;
  }
  // A command that leaves a process behind (create, run -d, exec -d) must not hand it the
  // pipe popen reads: that pipe would never reach EOF. Its output goes to a file instead.
  Shell detaching(const std::string& command) {
    std::string out = dir_ + "/detached.out";
    Shell s = shell(command + " > " + out + " 2>&1 < /dev/null");
    s.out = read_text(out);
    return s;
  }
  json state(const std::string& id) {
    auto s = shell(runc() + " state " + id);
    json j = json::parse(s.out, nullptr, false);
    return j.is_object() ? j : json::object();
  }
  // The sandbox's unified cgroup dir, from its init's /proc/PID/cgroup (the kernel's view).
  std::string unified_dir(int pid) {
    std::istringstream in(read_text("/proc/" + std::to_string(pid) + "/cgroup"));
    for (std::string line; std::getline(in, line);)
      if (line.rfind("0::", 0) == 0) return "/sys/fs/cgroup/unified" + line.substr(3);
    return "";
  }
  std::string dir_, root_, bundle_;
};

// What runc's and Docker's bundles ask for: noNewPrivileges false and CAP_MKNOD, CAP_NET_RAW,
// CAP_SYS_CHROOT. The container tier keeps them, and its walls stay: the seccomp filter and
// the Landlock domain are loaded (before the capabilities are dropped), and the capabilities
// give nothing outside the sandbox's user namespace (no device node).
TEST_F(OciRuntime, BundleWithoutNoNewPrivsKeepsSeccompAndAskedCapabilities) {
  write_config(
      "grep -E '^(NoNewPrivs|Seccomp|CapEff):' /proc/self/status; "
      "mknod /tmp/null c 1 3 2>/dev/null && echo mknod-ok || echo mknod-refused",
      true);
  json j = json::parse(read_text(bundle_ + "/config.json"));
  j["process"]["noNewPrivileges"] = false;
  for (const char* set : {"bounding", "effective", "permitted"})
    for (const char* cap : {"CAP_MKNOD", "CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_SYS_ADMIN"})
      j["process"]["capabilities"][set].push_back(cap);
  std::ofstream(bundle_ + "/config.json") << j.dump(2);
  auto r = shell(runc() + " run --bundle " + bundle_ + " nnp1");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("NoNewPrivs:\t0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Seccomp:\t2"), std::string::npos) << r.out;
  // CHOWN..KILL, MKNOD (27), NET_RAW (13), SYS_CHROOT (18); never SYS_ADMIN (21).
  auto eff = r.out.find("CapEff:\t");
  ASSERT_NE(eff, std::string::npos) << r.out;
  uint64_t caps = std::stoull(r.out.substr(eff + 8, 16), nullptr, 16);
  EXPECT_TRUE(caps & (1ull << 27)) << r.out;
  EXPECT_TRUE(caps & (1ull << 13)) << r.out;
  EXPECT_TRUE(caps & (1ull << 18)) << r.out;
  EXPECT_FALSE(caps & (1ull << 21)) << r.out;
  EXPECT_NE(r.out.find("mknod-refused"), std::string::npos) << r.out;
  // The strict tier keeps no_new_privs whatever the bundle says.
  j["annotations"]["run.clawcage.tier"] = "strict";
  std::ofstream(bundle_ + "/config.json") << j.dump(2);
  auto s = shell(runc() + " run --bundle " + bundle_ + " nnp2");
  EXPECT_NE(s.out.find("NoNewPrivs:\t1"), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("CapEff:\t0000000000000000"), std::string::npos) << s.out;
}

TEST_F(OciRuntime, RuncLifecycleWithGlobalFlags) {
  std::string log = dir_ + "/runc.log";
  std::string pid_file = dir_ + "/init.pid";
  auto c = detaching(runc() + " --log " + log + " --log-format json create --bundle " + bundle_ +
                     " --pid-file " + pid_file + " rc1");
  ASSERT_EQ(c.rc, 0) << c.out;
  json st = state("rc1");
  EXPECT_EQ(st.value("status", ""), "created");
  int pid = st.value("pid", 0);
  EXPECT_EQ(std::to_string(pid), read_text(pid_file));
  ASSERT_EQ(shell(runc() + " start rc1").rc, 0);
  EXPECT_EQ(state("rc1").value("status", ""), "running");

  // ps lists the sandbox's processes from its cgroup; exec adds one.
  auto bg = detaching(runc() + " exec --detach rc1 -- /bin/sleep 60");
  ASSERT_EQ(bg.rc, 0) << bg.out;
  auto ps = shell(runc() + " ps --format json rc1");
  json pids = json::parse(ps.out, nullptr, false);
  ASSERT_TRUE(pids.is_array()) << ps.out;
  EXPECT_EQ(pids.size(), 2u) << ps.out;
  EXPECT_NE(std::find(pids.begin(), pids.end(), pid), pids.end());

  // pause/resume: the kernel's freezer says so.
  std::string events = unified_dir(pid) + "/cgroup.events";
  ASSERT_EQ(shell(runc() + " pause rc1").rc, 0);
  EXPECT_EQ(state("rc1").value("status", ""), "paused");
  EXPECT_NE(read_text(events).find("frozen 1"), std::string::npos) << read_text(events);
  auto list = shell(runc() + " list --format json");
  EXPECT_NE(list.out.find("\"paused\""), std::string::npos) << list.out;
  ASSERT_EQ(shell(runc() + " resume rc1").rc, 0);
  EXPECT_NE(read_text(events).find("frozen 0"), std::string::npos);
  EXPECT_EQ(state("rc1").value("status", ""), "running");
  auto x = shell(runc() + " exec rc1 -- /bin/sh -c 'exit 7'");
  EXPECT_EQ(x.rc, 7) << x.out;

  // An error goes to --log in runc's JSON format (containerd's shim reads it from there).
  auto refused = shell(runc() + " --log " + log + " --log-format json delete rc1");
  EXPECT_NE(refused.rc, 0);
  std::string last;
  {
    std::istringstream in(read_text(log));
    for (std::string line; std::getline(in, line);) last = line;
  }
  json entry = json::parse(last, nullptr, false);
  EXPECT_EQ(entry.value("level", ""), "error") << last;
  EXPECT_NE(entry.value("msg", "").find("running"), std::string::npos) << last;
  EXPECT_FALSE(entry.value("time", "").empty());

  ASSERT_EQ(shell(runc() + " kill --all rc1 KILL").rc, 0);
  for (int i = 0; i < 300 && state("rc1").value("status", "") != "stopped"; ++i) {
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    usleep(10000);
  }
  EXPECT_EQ(state("rc1").value("status", ""), "stopped");
  ASSERT_EQ(shell(runc() + " delete rc1").rc, 0);
  EXPECT_EQ(shell(runc() + " list -q").out, "");
  EXPECT_TRUE(processes_in_sandbox_cgroups("rc1").empty());
}

TEST_F(OciRuntime, RunForwardsSignalsPreservesFdsAndKeepsTheExitCode) {
  write_config("echo ran; exit 5", true);
  auto r = shell(runc() + " run --bundle " + bundle_ + " rr1");
  EXPECT_EQ(r.rc, 5) << r.out;
  EXPECT_EQ(r.out, "ran\n");
  EXPECT_EQ(shell(runc() + " list -q").out, "") << "run deletes the sandbox after it";

  // A signal to `run` reaches the payload, whose own exit code comes back.
  write_config("trap 'exit 42' TERM; while true; do sleep 0.1; done", true);
  std::string self = dir_ + "/clawcage-runc";
  pid_t p = fork();
  if (p == 0) {
    int null = open("/dev/null", O_RDWR);
    dup2(null, 1);
    execl(self.c_str(), "clawcage-runc", "--root", root_.c_str(), "run", "--bundle",
          bundle_.c_str(), "rr2", nullptr);
    _exit(127);
  }
  for (int i = 0; i < 500 && state("rr2").value("status", "") != "running"; ++i) usleep(10000);
  usleep(200000);  // the payload's trap is set
  kill(p, SIGTERM);
  int status = 0;
  waitpid(p, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 42) << status;

  // --preserve-fds 1: the caller's fd 3 reaches the payload; no other host fd does.
  std::string secret = dir_ + "/fd3.txt";
  std::ofstream(secret) << "through fd 3\n";
  write_config("cat <&3; ls /proc/self/fd | wc -l", true);
  auto f = shell(runc() + " run --preserve-fds 1 --bundle " + bundle_ + " rr3 3<" + secret + " 4<" +
                 secret);
  EXPECT_EQ(f.rc, 0) << f.out;
  // fds 0, 1, 2, 3 and the one ls opens for the listing.
  EXPECT_EQ(f.out, "through fd 3\n5\n");
  auto d = detaching(runc() + " run --detach --bundle " + bundle_ + " rr4");
  EXPECT_EQ(d.rc, 0) << d.out;
}

TEST_F(OciRuntime, InstalledNameSetsTheWeakestTierAndUnsupportedFlagsAreRefused) {
  write_config("sleep 60", false);  // no tier annotation: the installed name decides
  ASSERT_EQ(detaching(runc("clawcage-runc-strict") + " create --bundle " + bundle_ + " nt1").rc, 0);
  EXPECT_EQ(state("nt1")["annotations"].value("run.clawcage.tier", ""), "strict");
  shell(runc() + " delete -f nt1");
  write_config("sleep 60", true);  // asks for container: weaker than strict
  auto weaker = detaching(runc("clawcage-runc-strict") + " create --bundle " + bundle_ + " nt2");
  EXPECT_NE(weaker.rc, 0);
  EXPECT_NE(weaker.out.find("weaker than this runtime's strict"), std::string::npos) << weaker.out;
  for (const std::string& args :
       {std::string(" create --console-socket /tmp/x.sock --bundle ") + bundle_ + " u1",
        std::string(" create --no-pivot --bundle ") + bundle_ + " u2",
        std::string(" --systemd-cgroup create --bundle ") + bundle_ + " u3",
        std::string(" checkpoint u4"), std::string(" exec -t u5 -- true")}) {
    auto u = detaching(runc() + args);
    EXPECT_NE(u.rc, 0) << args;
    std::string flag = args.substr(1, args.find(' ', 1) - 1);
    if (flag == "create") flag = args.substr(8, args.find(' ', 8) - 8);
    EXPECT_NE(u.out.find(flag == "exec" ? "--tty" : flag), std::string::npos)
        << args << ": " << u.out;
  }
  EXPECT_EQ(shell(runc() + " list -q").out, "") << "nothing was created";
  auto features = json::parse(shell(runc() + " features").out, nullptr, false);
  EXPECT_EQ(features.value("ociVersionMax", ""), "1.1.0");
  EXPECT_TRUE(features["linux"]["cgroup"].value("v1", false));
  std::string spec_dir = dir_ + "/newbundle";
  mkdir(spec_dir.c_str(), 0755);
  EXPECT_EQ(shell(runc() + " spec --bundle " + spec_dir).rc, 0);
  EXPECT_EQ(json::parse(read_text(spec_dir + "/config.json"))["root"].value("path", ""), "rootfs");
  auto again = shell(runc() + " spec --bundle " + spec_dir);
  EXPECT_NE(again.out.find("exists"), std::string::npos) << again.out;
  auto version = shell(dir_ + "/clawcage-runc --version");
  EXPECT_NE(version.out.find("clawcage-runc version"), std::string::npos);
}

// `clawcage gc --root DIR` collects a crashed runtime's sandboxes under that root only (its
// cgroups live under clawcage-root-<hash>, which a plain `gc` never touches), and spares
// live ones.
TEST_F(OciRuntime, GcWithRootCollectsOnlyThatRootsDeadSandboxes) {
  ASSERT_EQ(detaching(runc() + " create --bundle " + bundle_ + " gc1").rc, 0);
  ASSERT_EQ(detaching(runc() + " create --bundle " + bundle_ + " gc2").rc, 0);
  int pid = state("gc1").value("pid", 0);
  ASSERT_GT(pid, 0);
  std::string gc = binary() + " gc --root " + root_;
  auto spared = shell(gc);
  EXPECT_EQ(spared.rc, 0) << spared.out;
  EXPECT_EQ(state("gc1").value("status", ""), "created") << "a live sandbox is spared";
  // gc1's init dies as in a crash: its state and cgroup stay behind.
  kill(pid, SIGKILL);
  for (int i = 0; i < 300 && state("gc1").value("status", "") != "stopped"; ++i) {
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    usleep(10000);
  }
  ASSERT_EQ(state("gc1").value("status", ""), "stopped");
  auto collected = shell(gc);
  EXPECT_EQ(collected.rc, 0) << collected.out;
  EXPECT_NE(collected.out.find("removed gc1"), std::string::npos) << collected.out;
  EXPECT_EQ(collected.out.find("gc2"), std::string::npos) << collected.out;
  EXPECT_TRUE(leftover_cgroups("gc1").empty());
  EXPECT_EQ(shell(runc() + " list -q").out, "gc2\n");
  auto relative = shell(binary() + " gc --root relative/dir");
  EXPECT_NE(relative.rc, 0);
  EXPECT_NE(relative.out.find("--root"), std::string::npos) << relative.out;
}

}  // namespace
}  // namespace clawcage::test
