#include "linux/capabilities.h"

#include <gtest/gtest.h>
#include <linux/capability.h>

namespace clawcage::os {
namespace {

TEST(Capabilities, AmbientImpliesInheritable) {
  // crun's and runc's default specs list ambient capabilities without inheritable ones.
  spec::Capabilities caps;
  caps.bounding = caps.permitted = caps.effective = caps.ambient = {"CAP_KILL", "CAP_CHOWN"};
  auto sets = resolve_capabilities(caps);
  ASSERT_TRUE(sets) << sets.error().message();
  uint64_t want = (uint64_t(1) << CAP_KILL) | (uint64_t(1) << CAP_CHOWN);
  EXPECT_EQ(sets->inheritable, want);
  EXPECT_EQ(sets->ambient, want);
}

TEST(Capabilities, UnknownNameIsAnError) {
  spec::Capabilities caps;
  caps.effective = {"CAP_FLY"};
  auto sets = resolve_capabilities(caps);
  ASSERT_FALSE(sets);
  EXPECT_NE(sets.error().message().find("CAP_FLY"), std::string::npos);
}

}  // namespace
}  // namespace clawcage::os
