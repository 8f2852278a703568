#include "image/image_user.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <fstream>

#include "support/run_clawcage.h"

namespace clawcage::image {
namespace {

class ImageUserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = test::make_temp_dir("imageuser");
    mkdir((root_ + "/etc").c_str(), 0755);
    std::ofstream(root_ + "/etc/passwd") << "root:x:0:0:root:/root:/bin/sh\n"
                                            "# comment\n"
                                            "agent:x:1000:1000::/home/agent:/bin/sh\n"
                                            "broken:x:notanumber:1\n";
    std::ofstream(root_ + "/etc/group") << "root:x:0:\n"
                                           "agent:x:1000:\n"
                                           "tools:x:2000:someone,agent\n"
                                           "audio:x:29:agent\n"
                                           "other:x:3000:someone\n";
  }
  void TearDown() override { test::remove_tree(root_); }
  std::string root_;
};

TEST_F(ImageUserTest, ResolvesLikePodman) {
  auto u = resolve_image_user(root_, "agent");
  ASSERT_TRUE(u) << u.error().message();
  EXPECT_EQ(u->uid, 1000u);
  EXPECT_EQ(u->gid, 1000u);
  EXPECT_EQ(u->groups, (std::vector<uint32_t>{2000, 29}));
  u = resolve_image_user(root_, "1000:tools");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->uid, 1000u);
  EXPECT_EQ(u->gid, 2000u);
  u = resolve_image_user(root_, "agent:55");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->gid, 55u);
  // A numeric uid missing from passwd: gid 0, no groups.
  u = resolve_image_user(root_, "4242");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->uid, 4242u);
  EXPECT_EQ(u->gid, 0u);
  EXPECT_TRUE(u->groups.empty());
}

TEST_F(ImageUserTest, MissingNamesAreErrorsNamingThem) {
  auto u = resolve_image_user(root_, "nobody-here");
  ASSERT_FALSE(u);
  EXPECT_NE(u.error().message().find("nobody-here"), std::string::npos);
  u = resolve_image_user(root_, "agent:nogroup");
  ASSERT_FALSE(u);
  EXPECT_NE(u.error().message().find("nogroup"), std::string::npos);
  EXPECT_FALSE(resolve_image_user(root_, ":1"));
}

// An image whose /etc/passwd is a symlink to an absolute path reads the image's file of that
// name, never the host's.
TEST_F(ImageUserTest, SymlinksResolveInsideTheRootfs) {
  unlink((root_ + "/etc/passwd").c_str());
  mkdir((root_ + "/real").c_str(), 0755);
  std::ofstream(root_ + "/real/passwd") << "agent:x:7:7::/:/bin/sh\n";
  ASSERT_EQ(symlink("/real/passwd", (root_ + "/etc/passwd").c_str()), 0);
  auto u = resolve_image_user(root_, "agent");
  ASSERT_TRUE(u) << u.error().message();
  EXPECT_EQ(u->uid, 7u);
  unlink((root_ + "/etc/passwd").c_str());
  ASSERT_EQ(symlink("/etc/shadow", (root_ + "/etc/passwd").c_str()), 0);  // host's, if followed
  u = resolve_image_user(root_, "root");
  EXPECT_FALSE(u);  // the image has no /etc/shadow: no such user, nothing read from the host
}

}  // namespace
}  // namespace clawcage::image
