// The mount plan is pure data: order, flags and errors are checked without mounting.
#include "linux/mount_plan.h"

#include <gtest/gtest.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spec/task.h"
#include "spec/tiers/tier.h"

namespace clawcage::os {
namespace {

spec::Spec container_spec() {
  spec::TaskOptions t;
  t.rootfs = "/r";
  t.args = {"/bin/true"};
  t.volumes = {{"/data", "/in", true, false}};
  t.scratch_bytes = 1 << 20;
  auto base = spec::build_task_spec(t);
  EXPECT_TRUE(base);
  auto tiered = spec::apply_container_tier(*base);
  EXPECT_TRUE(tiered);
  return tiered->spec;
}

TEST(MountPlan, MasksAndReadOnlyPathsComeAfterEveryMount) {
  auto plan = plan_mounts(container_spec());
  ASSERT_TRUE(plan) << plan.error().message();
  bool seen_mask = false;
  for (const auto& op : plan->ops) {
    bool late = op.kind == MountKind::mask || op.kind == MountKind::readonly;
    if (late) seen_mask = true;
    EXPECT_TRUE(late || !seen_mask) << "mount " << op.destination << " after a mask";
  }
  EXPECT_TRUE(seen_mask);
}

TEST(MountPlan, DeviceNodesFollowTheDevTmpfs) {
  auto plan = plan_mounts(container_spec());
  ASSERT_TRUE(plan);
  for (size_t i = 0; i < plan->ops.size(); ++i) {
    if (plan->ops[i].kind != MountKind::dev_nodes) continue;
    ASSERT_GT(i, 0u);
    EXPECT_EQ(plan->ops[i - 1].destination, "/dev");
    EXPECT_EQ(plan->ops[i - 1].kind, MountKind::tmpfs);
    return;
  }
  ADD_FAILURE() << "no device nodes planned";
}

TEST(MountPlan, SharedInputIsReadOnlyNosuidNodevNoexec) {
  auto plan = plan_mounts(container_spec());
  ASSERT_TRUE(plan);
  for (const auto& op : plan->ops) {
    if (op.destination != "/in") continue;
    EXPECT_EQ(op.kind, MountKind::bind);
    EXPECT_TRUE(op.recursive);
    EXPECT_EQ(
        op.attrs & (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC),
        uint64_t(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC));
    return;
  }
  ADD_FAILURE() << "no /in mount";
}

TEST(MountPlan, TmpfsOptionsBecomeDataAndFlags) {
  spec::Spec s;
  s.mounts = {{"/scratch", "tmpfs", "tmpfs", {"nosuid", "nodev", "ro", "size=1m", "mode=1777"}}};
  auto plan = plan_mounts(s);
  ASSERT_TRUE(plan);
  ASSERT_EQ(plan->ops.size(), 1u);
  EXPECT_EQ(plan->ops[0].data, "size=1m,mode=1777");
  EXPECT_EQ(plan->ops[0].flags, static_cast<unsigned long>(MS_NOSUID | MS_NODEV | MS_RDONLY));
  EXPECT_EQ(plan->propagation, static_cast<unsigned long>(MS_REC | MS_PRIVATE));
}

TEST(MountPlan, ErrorsNameTheField) {
  spec::Spec s;
  s.mounts = {{"/a", "tmpfs", "tmpfs", {}}, {"/b", "bind", "/x", {"bind", "bogus"}}};
  auto plan = plan_mounts(s);
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().message(), "mounts[1].options: unknown bind option \"bogus\"");
  s.mounts = {{"/c", "overlay", "overlay", {}}};
  EXPECT_EQ(plan_mounts(s).error().message(),
            "mounts[0].type: mount type \"overlay\" is not supported");
  s.mounts = {};
  s.linux.masked_paths = {"proc/kcore"};
  EXPECT_EQ(plan_mounts(s).error().message(), "linux.maskedPaths[0]: expected an absolute path");
}

TEST(MountPlan, MissingBindSourceIsNamedBeforeAnythingIsCreated) {
  spec::Spec s;
  s.mounts = {{"/in", "bind", "/nonexistent/clawcage-source", {"bind", "ro"}}};
  auto plan = plan_mounts(s);
  ASSERT_TRUE(plan);
  auto opened = open_mount_sources(*plan);
  ASSERT_FALSE(opened);
  EXPECT_NE(opened.error().message().find("/nonexistent/clawcage-source"), std::string::npos);
  EXPECT_NE(opened.error().message().find("mounts[0].source"), std::string::npos);
}

TEST(MountPlan, CheckedSourcesFollowNoSymlink) {
  // A policy-checked source whose component became a symlink is refused, not followed.
  std::string dir = "/tmp/clawcage-nofollow-" + std::to_string(getpid());
  mkdir(dir.c_str(), 0755);
  std::string link = dir + "/link";
  ASSERT_EQ(symlink("/etc", link.c_str()), 0);
  spec::Spec s;
  s.mounts = {{"/in", "bind", link, {"bind", "ro", kNoFollowOption}}};
  auto plan = plan_mounts(s);
  ASSERT_TRUE(plan);
  auto opened = open_mount_sources(*plan);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ELOOP) << opened.error().message();
  // Without the option (an OCI bundle's own mounts), the link is followed as runc does.
  s.mounts[0].options = {"bind", "ro"};
  auto plain = plan_mounts(s);
  ASSERT_TRUE(plain);
  EXPECT_TRUE(open_mount_sources(*plain));
  unlink(link.c_str());
  rmdir(dir.c_str());
}

}  // namespace
}  // namespace clawcage::os
