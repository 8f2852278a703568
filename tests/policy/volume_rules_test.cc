#include "policy/volume_rules.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "support/run_clawcage.h"

namespace clawcage::policy {
namespace {

TEST(VolumeRules, SensitivePathsAreRefused) {
  for (auto p :
       {"/", "/etc", "/etc/ssh", "/proc", "/sys/kernel", "/dev", "/root/.ssh", "/home/a/.aws/x"})
    EXPECT_NE(sensitive_reason(p), "") << p;
  for (auto p : {"/tmp/x", "/srv/data", "/home/a/project", "/home/a/ssh-notes"})
    EXPECT_EQ(sensitive_reason(p), "") << p;
}

TEST(VolumeRules, SymlinksAreResolvedBeforeTheCheck) {
  std::string dir = test::make_temp_dir("vol");
  std::string link = dir + "/innocent";
  ASSERT_EQ(symlink("/etc", link.c_str()), 0);
  auto r = check_volume_source(link, {}, "--ro");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("resolves to /etc"), std::string::npos) << r.error().message();
  // Explicitly allowed.
  VolumeRules allow_etc;
  allow_etc.allowed = {"/etc"};
  EXPECT_TRUE(check_volume_source(link, allow_etc, "--ro"));
  test::remove_tree(dir);
}

TEST(VolumeRules, MissingSourceNamesIt) {
  auto r =
      check_volume_source("/nonexistent/clawcage-vol", {}, "--ro /nonexistent/clawcage-vol:/x");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("/nonexistent/clawcage-vol"), std::string::npos);
  EXPECT_NE(r.error().message().find("No such file"), std::string::npos);
}

}  // namespace
}  // namespace clawcage::policy
