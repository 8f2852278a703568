// runsc as a program: finding it, its platform, its command line and its exit codes. The
// sandbox behaviour itself is tested in tests/engine/gvisor_test.cc.
#include "linux/runsc.h"

#include <stdlib.h>

#include <algorithm>

#include <gtest/gtest.h>

namespace clawcage::os {
namespace {

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = getenv(name);
    if (old) old_ = old;
    had_ = old != nullptr;
    if (value)
      setenv(name, value, 1);
    else
      unsetenv(name);
  }
  ~ScopedEnv() {
    if (had_)
      setenv(name_, old_.c_str(), 1);
    else
      unsetenv(name_);
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

TEST(Runsc, PlatformDefaultsToPtraceAndIsChecked) {
  ScopedEnv env("CLAWCAGE_GVISOR_PLATFORM", nullptr);
  EXPECT_EQ(*resolve_gvisor_platform(""), "ptrace");
  EXPECT_EQ(*resolve_gvisor_platform("kvm"), "kvm");
  auto bad = resolve_gvisor_platform("systrap");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("gvisor_platform"), std::string::npos);
  ScopedEnv kvm("CLAWCAGE_GVISOR_PLATFORM", "kvm");
  EXPECT_EQ(*resolve_gvisor_platform(""), "kvm");
  EXPECT_EQ(*resolve_gvisor_platform("ptrace"), "ptrace");  // the explicit choice wins
}

TEST(Runsc, MissingRunscIsNamed) {
  {
    ScopedEnv env("CLAWCAGE_RUNSC", "/nonexistent/runsc");
    auto r = find_runsc();
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("/nonexistent/runsc"), std::string::npos);
    EXPECT_NE(r.error().message().find("runsc"), std::string::npos);
  }
  ScopedEnv none("CLAWCAGE_RUNSC", nullptr);
  ScopedEnv path("PATH", "/nonexistent:relative/dir");
  auto r = find_runsc();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("runsc is not installed"), std::string::npos);
}

TEST(Runsc, RunCommandLineHasNoNetworkAndNoCgroupsOfItsOwn) {
  Runsc r{"/usr/bin/runsc", "ptrace"};
  auto argv = runsc_run_argv(r, "/run/clawcage/t1/runsc", "/run/clawcage/t1/bundle", "t1");
  auto has = [&](const std::string& a) {
    return std::find(argv.begin(), argv.end(), a) != argv.end();
  };
  EXPECT_TRUE(has("--ignore-cgroups"));
  EXPECT_TRUE(has("--oci-seccomp"));
  auto net = std::find(argv.begin(), argv.end(), "--network");
  ASSERT_NE(net, argv.end());
  EXPECT_EQ(*(net + 1), "none");
  auto root = std::find(argv.begin(), argv.end(), "--root");
  ASSERT_NE(root, argv.end());
  EXPECT_EQ(*(root + 1), "/run/clawcage/t1/runsc");
  EXPECT_EQ(argv.back(), "t1");
}

TEST(Runsc, ExitCodesAbove128AreSignals) {
  auto e = decode_runsc_exit({false, 7});
  EXPECT_FALSE(e.signaled);
  EXPECT_EQ(e.code, 7);
  e = decode_runsc_exit({false, 137});
  EXPECT_TRUE(e.signaled);
  EXPECT_EQ(e.code, 9);
  e = decode_runsc_exit({false, 128});  // runsc's own failure
  EXPECT_FALSE(e.signaled);
  EXPECT_EQ(e.code, 128);
  e = decode_runsc_exit({true, 9});  // runsc itself killed (cgroup kill)
  EXPECT_TRUE(e.signaled);
  EXPECT_EQ(e.code, 9);
}

}  // namespace
}  // namespace clawcage::os
