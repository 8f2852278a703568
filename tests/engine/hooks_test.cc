// OCI hooks through the runc front (clawcage-runc): real hook scripts record the state JSON
// they read, the namespaces they ran in and their fds; the tests compare them with the
// init's namespaces (from /proc on the host) and check order, timeouts, failures and that
// nothing is left in the kernel afterwards.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/run_clawcage.h"

namespace clawcage::test {
namespace {

using json = nlohmann::json;

struct Shell {
  int rc = -1;
  std::string out;
};

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string ns_of(const std::string& pid, const char* ns) {
  char buf[128];
  std::string link = "/proc/" + pid + "/ns/" + ns;
  ssize_t n = readlink(link.c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

class OciHooks : public ::testing::Test {
 protected:
  void SetUp() override {
    // Detached inits outlive the runtime's commands; this test reaps them, as a shim would.
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    dir_ = make_temp_dir("hk");
    root_ = dir_ + "/state";
    bundle_ = dir_ + "/bundle";
    out_ = dir_ + "/out";
    mkdir(bundle_.c_str(), 0755);
    mkdir(out_.c_str(), 0777);
    chmod(out_.c_str(), 0777);  // the sandbox's root (host uid 100000) writes here too
    ASSERT_EQ(symlink("/var/lib/clawcage/images/builtin/rootfs", (bundle_ + "/rootfs").c_str()), 0);
    ASSERT_EQ(symlink(binary().c_str(), (dir_ + "/clawcage-runc").c_str()), 0);
    // A hook in the runtime's mount view: records its state, namespaces, fds and turn.
    std::ofstream(dir_ + "/hook.sh") << "#!/bin/sh\n"
                                        "kind=$1\n"
                                        "cat > " +
                                            out_ +
                                            "/$kind.state\n"
                                            "readlink /proc/self/ns/mnt > " +
                                            out_ +
                                            "/$kind.mnt\n"
                                            "readlink /proc/self/ns/net > " +
                                            out_ +
                                            "/$kind.net\n"
                                            "ls -l /proc/self/fd > " +
                                            out_ +
                                            "/$kind.fds\n"
                                            "echo \"$kind $HOOK_ENV\" >> " +
                                            out_ +
                                            "/order\n"
                                            "chmod 666 " +
                                            out_ + "/order\n";
    chmod((dir_ + "/hook.sh").c_str(), 0755);
  }
  void TearDown() override {
    shell(runc() + " list -q | xargs -r -n1 " + runc() + " delete -f");
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    shell("rmdir /sys/fs/cgroup/*/clawcage-root-* 2>/dev/null");
    prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
    remove_tree(dir_);
  }
  Shell shell(const std::string& command) {
    // Output to a file: a detached init must not hold the pipe popen reads.
    std::string out = dir_ + "/shell.out";
    RunOutput r = run_shell("timeout 60 " + command + " > " + out + " 2>&1 < /dev/null");
    return {r.exit_code, read_text(out)};
  }
  std::string runc() const { return dir_ + "/clawcage-runc --root " + root_; }
  json host_hook(const std::string& kind, int timeout = 0) const {
    json h = {{"path", dir_ + "/hook.sh"},
              {"args", {"hook.sh", kind}},
              {"env", {"HOOK_ENV=" + kind + "-env", "PATH=/usr/bin:/bin"}}};
    if (timeout) h["timeout"] = timeout;
    return h;
  }
  // A hook that runs inside the sandbox (its path resolves in the sandbox's root).
  static json sandbox_hook(const std::string& kind, const std::string& script) {
    return {{"path", "/bin/sh"}, {"args", {"sh", "-c", script}}, {"env", {"K=" + kind}}};
  }
  void write_config(const json& hooks, const std::string& script = "sleep 60") {
    auto spec = run_clawcage({"spec", "--", "/bin/sh", "-c", script}, 30, false);
    ASSERT_EQ(spec.exit_code, 0) << spec.err;
    json j = json::parse(spec.out);
    j["root"]["path"] = bundle_ + "/rootfs";
    j["mounts"].push_back({{"destination", "/output"},
                           {"type", "bind"},
                           {"source", out_},
                           {"options", {"rbind", "rw"}}});
    j["hooks"] = hooks;
    std::ofstream(bundle_ + "/config.json") << j.dump(2);
  }
  json state_file(const std::string& kind) {
    json j = json::parse(read_text(out_ + "/" + kind + ".state"), nullptr, false);
    return j.is_object() ? j : json::object();
  }
  // Nothing of sandbox `id` in the kernel or under the state root.
  void expect_nothing_left(const std::string& id) {
    EXPECT_TRUE(leftover_cgroups(id).empty()) << leftover_cgroups(id)[0];
    EXPECT_TRUE(leftover_mounts(id).empty());
    EXPECT_TRUE(processes_in_sandbox_cgroups(id).empty());
    EXPECT_FALSE(access((root_ + "/" + id).c_str(), F_OK) == 0) << "state dir left";
  }
  std::string dir_, root_, bundle_, out_;
};

TEST_F(OciHooks, EveryKindRunsInOrderWhereTheSpecSaysWithTheState) {
  std::string id = unique_name("hk-all");
  std::string in_sandbox =
      "cat > /output/startContainer.state; readlink /proc/self/ns/mnt > "
      "/output/startContainer.mnt; "
      "echo \"startContainer $K\" >> /output/order";
  write_config({{"prestart", {host_hook("prestart", 10)}},
                {"createRuntime", {host_hook("createRuntime")}},
                {"createContainer", {host_hook("createContainer", 10)}},
                {"startContainer", {sandbox_hook("startContainer", in_sandbox)}},
                {"poststart", {host_hook("poststart")}},
                {"poststop", {host_hook("poststop")}}});
  std::string pid_file = dir_ + "/init.pid";
  // fd 7, open without O_CLOEXEC in the runtime's caller, must reach no hook.
  std::string marker = dir_ + "/leaked-marker";
  std::ofstream(marker) << "x";
  auto c = shell("sh -c 'exec 7<" + marker + "; exec " + runc() + " create --bundle " + bundle_ +
                 " --pid-file " + pid_file + " " + id + "'");
  ASSERT_EQ(c.rc, 0) << c.out;
  std::string pid = read_text(pid_file);
  ASSERT_FALSE(pid.empty());
  EXPECT_EQ(trim(read_text(out_ + "/order")),
            "prestart prestart-env\ncreateRuntime createRuntime-env\n"
            "createContainer createContainer-env");

  // prestart and createRuntime: the runtime's namespaces; createContainer: the sandbox's.
  std::string self_mnt = ns_of("self", "mnt"), init_mnt = ns_of(pid, "mnt");
  ASSERT_NE(self_mnt, init_mnt);
  EXPECT_EQ(trim(read_text(out_ + "/prestart.mnt")), self_mnt);
  EXPECT_EQ(trim(read_text(out_ + "/createRuntime.mnt")), self_mnt);
  EXPECT_EQ(trim(read_text(out_ + "/createRuntime.net")), ns_of("self", "net"));
  EXPECT_EQ(trim(read_text(out_ + "/createContainer.mnt")), init_mnt);
  EXPECT_EQ(trim(read_text(out_ + "/createContainer.net")), ns_of(pid, "net"));
  for (const char* kind : {"prestart", "createRuntime", "createContainer"}) {
    json st = state_file(kind);
    EXPECT_EQ(st.value("status", ""), "creating") << kind;
    EXPECT_EQ(st.value("id", ""), id);
    EXPECT_EQ(std::to_string(st.value("pid", 0)), pid) << kind;
    EXPECT_EQ(st.value("bundle", ""), bundle_);
    std::string fds = read_text(out_ + "/" + kind + ".fds");
    EXPECT_EQ(fds.find("leaked-marker"), std::string::npos) << kind << ":\n" << fds;
    EXPECT_EQ(fds.find("socket:"), std::string::npos) << kind << ":\n" << fds;
  }

  auto s = shell(runc() + " start " + id);
  ASSERT_EQ(s.rc, 0) << s.out;
  EXPECT_EQ(trim(read_text(out_ + "/order")),
            "prestart prestart-env\ncreateRuntime createRuntime-env\n"
            "createContainer createContainer-env\nstartContainer startContainer\n"
            "poststart poststart-env");
  // startContainer ran inside the sandbox (its mount namespace, after pivot_root).
  EXPECT_EQ(trim(read_text(out_ + "/startContainer.mnt")), init_mnt);
  EXPECT_EQ(state_file("startContainer").value("status", ""), "created")
      << read_text(out_ + "/startContainer.state");
  EXPECT_EQ(state_file("poststart").value("status", ""), "running");
  EXPECT_EQ(std::to_string(state_file("poststart").value("pid", 0)), pid);
  EXPECT_EQ(trim(read_text(out_ + "/poststart.mnt")), self_mnt);

  ASSERT_EQ(shell(runc() + " kill " + id + " KILL").rc, 0);
  auto d = shell(runc() + " delete --force " + id);
  ASSERT_EQ(d.rc, 0) << d.out;
  EXPECT_EQ(state_file("poststop").value("status", ""), "stopped");
  EXPECT_EQ(state_file("poststop").value("id", ""), id);
  EXPECT_NE(read_text(out_ + "/order").find("poststop poststop-env"), std::string::npos);
  expect_nothing_left(id);
}

TEST_F(OciHooks, FailingCreateHooksFailCreateAndLeaveNothing) {
  for (const char* kind : {"prestart", "createRuntime", "createContainer"}) {
    std::string id = unique_name("hk-fail");
    unlink((out_ + "/order").c_str());
    write_config(
        {{kind, {{{"path", "/bin/sh"}, {"args", {"sh", "-c", "echo no way >&2; exit 3"}}}}},
         {"poststop", {host_hook("poststop")}}});
    auto c = shell(runc() + " create --bundle " + bundle_ + " " + id);
    EXPECT_NE(c.rc, 0);
    EXPECT_NE(c.out.find(std::string("hooks.") + kind + "[0] (/bin/sh)"), std::string::npos)
        << c.out;
    EXPECT_NE(c.out.find("exited with code 3: no way"), std::string::npos) << c.out;
    // The lifecycle continues at delete: poststop ran.
    EXPECT_EQ(trim(read_text(out_ + "/order")), "poststop poststop-env") << kind;
    expect_nothing_left(id);
  }
}

TEST_F(OciHooks, TimeoutKillsTheHookAndItsChildren) {
  std::string id = unique_name("hk-timeout");
  // A background child in the hook's process group must die with it.
  write_config({{"createContainer",
                 {{{"path", "/bin/sh"},
                   {"args", {"sh", "-c", "sleep 7391 & sleep 7392"}},
                   {"timeout", 1}}}}});
  auto t0 = std::chrono::steady_clock::now();
  auto c = shell(runc() + " create --bundle " + bundle_ + " " + id);
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(c.rc, 0);
  EXPECT_NE(c.out.find("hooks.createContainer[0] (/bin/sh): timed out after 1 s"),
            std::string::npos)
      << c.out;
  EXPECT_LT(took, 10.0);
  EXPECT_TRUE(processes_with_cmdline("sleep 739").empty());
  expect_nothing_left(id);
}

TEST_F(OciHooks, FailingStartContainerFailsStartAndPoststartOnlyWarns) {
  std::string id = unique_name("hk-start");
  write_config({{"startContainer", {sandbox_hook("startContainer", "echo refused >&2; exit 4")}}});
  ASSERT_EQ(shell(runc() + " create --bundle " + bundle_ + " " + id).rc, 0);
  auto s = shell(runc() + " start " + id);
  EXPECT_NE(s.rc, 0);
  EXPECT_NE(s.out.find("hooks.startContainer[0] (/bin/sh): exited with code 4: refused"),
            std::string::npos)
      << s.out;
  auto st = shell(runc() + " state " + id);
  EXPECT_NE(st.out.find("\"stopped\""), std::string::npos) << st.out;
  ASSERT_EQ(shell(runc() + " delete " + id).rc, 0);
  expect_nothing_left(id);

  std::string id2 = unique_name("hk-poststart");
  write_config({{"poststart", {{{"path", "/bin/false"}}, host_hook("poststart")}},
                {"poststop", {{{"path", "/nonexistent/hook"}}}}});
  ASSERT_EQ(shell(runc() + " create --bundle " + bundle_ + " " + id2).rc, 0);
  s = shell(runc() + " start " + id2);
  EXPECT_EQ(s.rc, 0) << s.out;
  EXPECT_NE(s.out.find("warning: run hook hooks.poststart[0] (/bin/false): exited with code 1"),
            std::string::npos)
      << s.out;
  // The failing hook does not stop the next one.
  EXPECT_NE(read_text(out_ + "/order").find("poststart"), std::string::npos);
  st = shell(runc() + " state " + id2);
  EXPECT_NE(st.out.find("\"running\""), std::string::npos) << st.out;
  auto d = shell(runc() + " delete --force " + id2);
  EXPECT_EQ(d.rc, 0) << d.out;
  EXPECT_NE(d.out.find("hooks.poststop[0] (/nonexistent/hook)"), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("No such file or directory"), std::string::npos) << d.out;
  expect_nothing_left(id2);
}

TEST_F(OciHooks, AHookDiesWithTheRuntime) {
  std::string id = unique_name("hk-orphan");
  write_config({{"createRuntime", {{{"path", "/bin/sleep"}, {"args", {"sleep", "7393"}}}}}});
  pid_t runtime = start_clawcage({"oci", "--root", root_, "create", "--bundle", bundle_, id},
                                 dir_ + "/create.out");
  ASSERT_GT(runtime, 0);
  std::vector<int> hook;
  for (int i = 0; i < 200 && hook.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    hook = processes_with_cmdline("sleep 7393");
  }
  ASSERT_EQ(hook.size(), 1u);
  ::kill(runtime, SIGKILL);
  waitpid(runtime, nullptr, 0);
  for (int i = 0; i < 100 && !processes_with_cmdline("sleep 7393").empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(processes_with_cmdline("sleep 7393").empty());
  // What the dead runtime created is a stopped sandbox that delete removes.
  for (int i = 0; i < 100 && !processes_in_sandbox_cgroups(id).empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  auto d = shell(runc() + " delete " + id);
  EXPECT_EQ(d.rc, 0) << d.out;
  expect_nothing_left(id);
}

}  // namespace
}  // namespace clawcage::test
