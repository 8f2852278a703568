// Real clients of the runc front: podman (through conmon) and containerd (through its runc
// shim, containerd-shim-runc-v2) drive clawcage installed as clawcage-runc. Each test uses
// its own podman store or containerd root, state and socket, and checks from the kernel's
// side that nothing is left afterwards: cgroups, mounts, state dirs, processes.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <thread>

#include "support/real_images.h"
#include "support/run_clawcage.h"

namespace clawcage::test {
namespace {

struct Shell {
  int rc = -1;
  std::string out;
};

// Bounded, output through a file: a client may leave a daemon (conmon, a shim) holding
// whatever stdout it was given.
Shell shell(const std::string& dir, const std::string& command, int timeout_s = 120) {
  std::string out = dir + "/shell.out";
  RunOutput r = run_shell("timeout " + std::to_string(timeout_s) + " " + command + " > " + out +
                          " 2>&1 < /dev/null");
  return {r.exit_code, read_text(out)};
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string cgroup_parent_of(const std::string& root) {
  auto r = run_shell("printf %s '" + root + "' | sha256sum | cut -c1-8");
  return "clawcage-root-" + trim(r.out);
}

bool wait_until(const std::function<bool()>& done, int timeout_ms) {
  for (int waited = 0; waited < timeout_ms; waited += 50) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

class Podman : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("hk-podman");
    ASSERT_EQ(symlink(binary().c_str(), (dir_ + "/clawcage-runc").c_str()), 0);
    // This host's hard RLIMIT_NOFILE is 20000 and root lacks CAP_SYS_RESOURCE: podman's
    // default (1048576) cannot be granted by any runtime here (runc fails the same way).
    std::ofstream(dir_ + "/containers.conf")
        << "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n"
           "[engine]\nevents_logger = \"file\"\n";
    podman_ = "env CONTAINERS_CONF=" + dir_ + "/containers.conf podman --root " + dir_ +
              "/store --runroot " + dir_ + "/run --storage-driver vfs --cgroup-manager cgroupfs " +
              "--runtime " + dir_ + "/clawcage-runc";
  }
  void TearDown() override {
    shell(dir_, podman_ + " rm -a -f -t 0");
    shell(dir_, podman_ + " system reset -f");
    remove_tree(dir_);
  }
  std::string id_of(const std::string& name) {
    return trim(shell(dir_, podman_ + " inspect --format '{{.Id}}' " + name).out);
  }
  void expect_gone(const std::string& id) {
    ASSERT_EQ(id.size(), 64u) << id;
    EXPECT_TRUE(leftover_cgroups(id).empty()) << id;
    EXPECT_TRUE(processes_in_sandbox_cgroups(id).empty()) << id;
    EXPECT_TRUE(processes_with_cmdline(id).empty()) << id;  // conmon, the init
    EXPECT_NE(access(("/run/clawcage/" + id).c_str(), F_OK), 0) << "state dir of " << id;
  }
  std::string dir_, podman_;
};

TEST_F(Podman, RunsStopsKillsLogsAndExecsThroughClawcage) {
  const std::string image = "localhost/hk-busybox:1";
  auto imp = shell(dir_, "sh -c 'tar -C /var/lib/clawcage/images/builtin/rootfs -c . | " + podman_ +
                             " import - " + image + "'");
  ASSERT_EQ(imp.rc, 0) << imp.out;

  // run --rm: the payload's output and exit code.
  auto run = shell(dir_, podman_ + " run --rm --network none --name hk-once " + image +
                             " sh -c 'echo hello-podman; exit 3'");
  EXPECT_EQ(run.rc, 3) << run.out;
  EXPECT_NE(run.out.find("hello-podman"), std::string::npos) << run.out;

  // A service: logs, exec (its own exit code), stop (SIGTERM reaches the payload).
  auto svc = shell(dir_, podman_ + " run -d --network none --name hk-svc " + image +
                             " sh -c 'echo started; trap \"echo got-term; exit 9\" TERM; "
                             "while true; do sleep 0.1; done'");
  ASSERT_EQ(svc.rc, 0) << svc.out;
  std::string svc_id = id_of("hk-svc");
  EXPECT_TRUE(wait_until(
      [&] {
        return shell(dir_, podman_ + " logs hk-svc").out.find("started") != std::string::npos;
      },
      10000));
  auto ex = shell(dir_, podman_ + " exec hk-svc sh -c 'echo in-exec; exit 5'");
  EXPECT_EQ(ex.rc, 5) << ex.out;
  EXPECT_NE(ex.out.find("in-exec"), std::string::npos) << ex.out;
  auto stop = shell(dir_, podman_ + " stop -t 10 hk-svc");
  EXPECT_EQ(stop.rc, 0) << stop.out;
  EXPECT_EQ(trim(shell(dir_, podman_ + " inspect --format '{{.State.ExitCode}}' hk-svc").out), "9");
  EXPECT_NE(shell(dir_, podman_ + " logs hk-svc").out.find("got-term"), std::string::npos);
  ASSERT_EQ(shell(dir_, podman_ + " rm hk-svc").rc, 0);
  expect_gone(svc_id);

  // kill: SIGKILL by default, exit code 137.
  ASSERT_EQ(
      shell(dir_, podman_ + " run -d --network none --name hk-kill " + image + " sleep 1000").rc,
      0);
  std::string kill_id = id_of("hk-kill");
  auto kill = shell(dir_, podman_ + " kill hk-kill");
  EXPECT_EQ(kill.rc, 0) << kill.out;
  shell(dir_, podman_ + " wait hk-kill", 30);
  EXPECT_EQ(trim(shell(dir_, podman_ + " inspect --format '{{.State.ExitCode}}' hk-kill").out),
            "137");
  ASSERT_EQ(shell(dir_, podman_ + " rm hk-kill").rc, 0);
  expect_gone(kill_id);

  // Nothing of ours in the kernel: no mounts under the store, no sandbox of the runtime.
  EXPECT_TRUE(leftover_mounts(dir_).empty()) << leftover_mounts(dir_)[0];
  EXPECT_TRUE(processes_with_cmdline(dir_ + "/").empty());
}

class Containerd : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("hk-ctd");
    bin_ = "/var/cache/clawcage/tools/containerd/usr/bin";
    if (access((bin_ + "/containerd").c_str(), X_OK) != 0)
      GTEST_SKIP() << "containerd is not unpacked in " << bin_ << " (scripts/setup.sh)";
    had_run_containerd_ = access("/run/containerd", F_OK) == 0;
    ASSERT_EQ(symlink(binary().c_str(), (dir_ + "/clawcage-runc").c_str()), 0);
    std::ofstream(dir_ + "/config.toml")
        << "version = 2\nroot = \"" << dir_ << "/root\"\nstate = \"" << dir_ << "/state\"\n"
        << "disabled_plugins = [\"io.containerd.grpc.v1.cri\", "
           "\"io.containerd.snapshotter.v1.btrfs\", \"io.containerd.snapshotter.v1.zfs\", "
           "\"io.containerd.snapshotter.v1.devmapper\", \"io.containerd.snapshotter.v1.aufs\"]\n"
        << "[grpc]\n  address = \"" << dir_ << "/c.sock\"\n"
        << "[ttrpc]\n  address = \"" << dir_ << "/c.sock.ttrpc\"\n";
    auto started = run_shell("PATH=" + bin_ + ":$PATH nohup " + bin_ + "/containerd --config " +
                             dir_ + "/config.toml > " + dir_ + "/containerd.log 2>&1 & echo $!");
    containerd_ = std::atoi(started.out.c_str());
    ASSERT_GT(containerd_, 0);
    ASSERT_TRUE(wait_until([&] { return access((dir_ + "/c.sock").c_str(), F_OK) == 0; }, 20000))
        << read_text(dir_ + "/containerd.log");
    ctr_ = bin_ + "/ctr --address " + dir_ + "/c.sock";
    runc_flags_ = "--snapshotter native --runc-binary " + dir_ + "/clawcage-runc --runc-root " +
                  dir_ + "/runc";
  }
  void TearDown() override {
    stop_containerd();
    // The runtime's cgroup parent for this --root (clawcage-root-<hash>), once empty.
    run_shell("rmdir /sys/fs/cgroup/*/" + cgroup_parent_of(dir_ + "/runc/default") +
              " 2>/dev/null");
    // containerd 1.6 keeps shim sockets and fifos under /run/containerd whatever its config.
    if (!had_run_containerd_)
      run_shell("find /run/containerd -depth -type d -empty -delete 2>/dev/null");
    if (!dir_.empty()) remove_tree(dir_);
  }
  void stop_containerd() {
    if (containerd_ <= 0) return;
    ::kill(containerd_, SIGTERM);
    wait_until([&] { return ::kill(containerd_, 0) != 0; }, 10000);
    if (::kill(containerd_, 0) == 0) ::kill(containerd_, SIGKILL);
    containerd_ = -1;
  }
  std::string dir_, bin_, ctr_, runc_flags_;
  pid_t containerd_ = -1;
  bool had_run_containerd_ = false;
};

TEST_F(Containerd, CtrRunsAndKillsTasksThroughTheRuncShim) {
  std::string log;
  std::string layout = build_umoci_image(dir_, "echo from-image", &log);
  ASSERT_FALSE(layout.empty()) << log;
  std::string policy = write_accept_all_policy(dir_);
  const std::string ref = "docker.io/library/hk-agent:1";
  ASSERT_EQ(skopeo_copy(policy, "", "oci:" + layout + ":agent",
                        "oci-archive:" + dir_ + "/image.tar:" + ref, &log),
            0)
      << log;
  auto imp = shell(dir_, ctr_ + " image import --snapshotter native " + dir_ + "/image.tar");
  ASSERT_EQ(imp.rc, 0) << imp.out;

  // A task to completion, with its exit code.
  std::string once = unique_name("hk-ctd");
  auto run = shell(dir_, ctr_ + " run --rm " + runc_flags_ + " " + ref + " " + once +
                             " /bin/sh -c 'echo hello-containerd; exit 7'");
  EXPECT_EQ(run.rc, 7) << run.out << read_text(dir_ + "/containerd.log");
  EXPECT_NE(run.out.find("hello-containerd"), std::string::npos) << run.out;

  // ctr task kill: SIGTERM reaches the payload, whose trap picks the exit code.
  std::string svc = unique_name("hk-ctd");
  std::string rc_file = dir_ + "/svc.rc";
  run_shell("(timeout 120 " + ctr_ + " run --rm " + runc_flags_ + " " + ref + " " + svc +
            " /bin/sh -c 'trap \"exit 9\" TERM; while true; do sleep 0.1; done' > " + dir_ +
            "/svc.out 2>&1 < /dev/null; echo $? > " + rc_file + ") > /dev/null 2>&1 &");
  ASSERT_TRUE(wait_until(
      [&] {
        return shell(dir_, ctr_ + " task ls").out.find(svc + " ") != std::string::npos &&
               shell(dir_, ctr_ + " task ls").out.find("RUNNING") != std::string::npos;
      },
      30000))
      << shell(dir_, ctr_ + " task ls").out << read_text(dir_ + "/svc.out");
  auto kill = shell(dir_, ctr_ + " task kill " + svc);
  EXPECT_EQ(kill.rc, 0) << kill.out;
  ASSERT_TRUE(wait_until([&] { return !read_text(rc_file).empty(); }, 30000));
  EXPECT_EQ(trim(read_text(rc_file)), "9") << read_text(dir_ + "/svc.out");

  // Nothing of either task: no shim, no sandbox, no state; then containerd goes too.
  for (const auto& id : {once, svc}) {
    EXPECT_TRUE(
        wait_until([&] { return processes_with_cmdline("-id " + id + " ").empty(); }, 10000))
        << "shim of " << id;
    EXPECT_TRUE(leftover_cgroups(id).empty()) << id;
    EXPECT_TRUE(processes_in_sandbox_cgroups(id).empty()) << id;
    EXPECT_NE(access((dir_ + "/runc/default/" + id).c_str(), F_OK), 0) << id;
  }
  EXPECT_EQ(trim(shell(dir_, ctr_ + " container ls -q").out), "");
  stop_containerd();
  EXPECT_TRUE(processes_with_cmdline(dir_ + "/").empty());
  EXPECT_TRUE(leftover_mounts(dir_).empty()) << leftover_mounts(dir_)[0];
}

}  // namespace
}  // namespace clawcage::test
