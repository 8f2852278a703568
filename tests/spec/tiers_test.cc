#include "spec/tiers/tier.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "spec/task.h"
#include "spec/validate.h"

namespace clawcage::spec {
namespace {

Spec base() {
  TaskOptions t;
  t.rootfs = "/rootfs";
  t.args = {"/bin/true"};
  auto s = build_task_spec(t);
  EXPECT_TRUE(s);
  return s.value();
}

bool has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

bool denies(const Seccomp& s, const std::string& name) {
  for (const auto& r : s.syscalls)
    if (has(r.names, name) && r.action == "SCMP_ACT_ERRNO" && r.args.empty()) return true;
  return false;
}

TEST(Tiers, ParseTierNamesTheFlag) {
  EXPECT_TRUE(parse_tier("strict"));
  auto bad = parse_tier("bogus");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(),
            "isolate: unknown tier \"bogus\" (expected chroot, container, strict or gvisor)");
  for (auto t : {Tier::chroot, Tier::container, Tier::strict, Tier::gvisor}) {
    auto back = parse_tier(tier_name(t));
    ASSERT_TRUE(back) << tier_name(t);
    EXPECT_EQ(*back, t);
  }
}

TEST(Tiers, OrderingPutsGvisorStrongest) {
  const Tier order[] = {Tier::chroot, Tier::container, Tier::strict, Tier::gvisor};
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j)
      EXPECT_EQ(tier_at_least(order[i], order[j]), i >= j)
          << tier_name(order[i]) << " vs " << tier_name(order[j]);
  EXPECT_LT(tier_strength(Tier::strict), tier_strength(Tier::gvisor));
}

TEST(Tiers, GvisorIsStrictUnderRunsc) {
  auto r = apply_gvisor_tier(base());
  ASSERT_TRUE(r);
  const Spec& s = r->spec;
  EXPECT_EQ(s.annotations.at(kTierAnnotation), "gvisor");
  // Native-runtime mechanisms runsc does not apply are not claimed.
  EXPECT_EQ(s.annotations.count(kLandlockAnnotation), 0u);
  EXPECT_EQ(s.annotations.count(kRootSwitchAnnotation), 0u);
  // strict's walls, which the sentry enforces.
  EXPECT_TRUE(s.root.readonly);
  EXPECT_TRUE(s.process.capabilities.bounding.empty());
  EXPECT_TRUE(s.process.no_new_privileges);
  ASSERT_TRUE(s.linux.seccomp);
  EXPECT_TRUE(denies(*s.linux.seccomp, "keyctl"));
  EXPECT_TRUE(s.has_namespace("user"));
  ASSERT_TRUE(s.linux.resources.memory && s.linux.resources.memory->limit);
  ASSERT_TRUE(s.linux.resources.pids);
  bool runsc = false, network = false;
  for (const auto& c : r->controls) {
    runsc |= c.find("runsc") != std::string::npos;
    network |= c.rfind("network:none", 0) == 0;
  }
  EXPECT_TRUE(runsc);
  EXPECT_TRUE(network);
  // The payload's processes are fitted under the pids limit, which counts runsc's tasks too.
  bool nproc = false;
  for (const auto& rl : s.process.rlimits)
    if (rl.type == "RLIMIT_NPROC") {
      nproc = true;
      EXPECT_EQ(rl.hard, (256u - 64u) / 6u);
    }
  EXPECT_TRUE(nproc);
  Spec small = base();
  small.linux.resources.pids = PidsResources{64};
  auto refused = apply_gvisor_tier(small);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("linux.resources.pids.limit"), std::string::npos);
  EXPECT_TRUE(validate_spec(s));
  auto via = apply_tier(Tier::gvisor, base());
  ASSERT_TRUE(via);
  EXPECT_EQ(via->controls, r->controls);
}

TEST(Tiers, ChrootIsMountAndUserNamespaceOnly) {
  auto r = apply_chroot_tier(base());
  ASSERT_TRUE(r);
  const Spec& s = r->spec;
  EXPECT_TRUE(s.has_namespace("mount"));
  EXPECT_TRUE(s.has_namespace("user"));
  EXPECT_FALSE(s.has_namespace("pid"));
  EXPECT_FALSE(s.has_namespace("network"));
  EXPECT_TRUE(s.process.capabilities.bounding.empty());
  EXPECT_TRUE(s.process.no_new_privileges);
  EXPECT_EQ(s.annotations.at(kRootSwitchAnnotation), "chroot");
  EXPECT_TRUE(validate_spec(s));
}

TEST(Tiers, ContainerHasEveryNamespaceAndReducedCaps) {
  auto r = apply_container_tier(base());
  ASSERT_TRUE(r);
  const Spec& s = r->spec;
  for (auto ns : {"pid", "network", "mount", "ipc", "uts", "user", "cgroup"})
    EXPECT_TRUE(s.has_namespace(ns)) << ns;
  EXPECT_FALSE(has(s.process.capabilities.bounding, "CAP_SYS_ADMIN"));
  EXPECT_FALSE(has(s.process.capabilities.bounding, "CAP_MKNOD"));
  EXPECT_FALSE(has(s.process.capabilities.bounding, "CAP_NET_RAW"));
  EXPECT_TRUE(has(s.process.capabilities.bounding, "CAP_CHOWN"));
  ASSERT_TRUE(s.linux.seccomp);
  EXPECT_EQ(s.linux.uid_mappings.at(0).host_id, 100000u);
  EXPECT_TRUE(has(s.linux.masked_paths, "/proc/kcore"));
  EXPECT_TRUE(validate_spec(s));
}

TEST(Tiers, ContainerReducesRequestedCapabilities) {
  Spec s = base();
  s.process.capabilities.bounding = {"CAP_SYS_ADMIN", "CAP_CHOWN"};
  s.process.capabilities.effective = {"CAP_SYS_ADMIN"};
  auto r = apply_container_tier(s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->spec.process.capabilities.bounding, std::vector<std::string>{"CAP_CHOWN"});
  EXPECT_TRUE(r->spec.process.capabilities.effective.empty());
}

TEST(Tiers, StrictDropsEverythingAndDeniesEscapes) {
  auto r = apply_strict_tier(base());
  ASSERT_TRUE(r);
  const Spec& s = r->spec;
  const auto& c = s.process.capabilities;
  EXPECT_TRUE(c.bounding.empty() && c.effective.empty() && c.permitted.empty() &&
              c.inheritable.empty() && c.ambient.empty());
  EXPECT_TRUE(s.root.readonly);
  for (auto name :
       {"unshare", "setns", "mount", "umount2", "pivot_root", "keyctl", "add_key", "bpf",
        "userfaultfd", "perf_event_open", "ptrace", "kexec_load", "kexec_file_load", "init_module",
        "open_by_handle_at", "setuid", "setresuid", "setgroups"})
    EXPECT_TRUE(denies(*s.linux.seccomp, name)) << name;
  bool clone3_enosys = false;
  for (const auto& rule : s.linux.seccomp->syscalls)
    if (has(rule.names, "clone3")) clone3_enosys = rule.errno_ret == 38u;
  EXPECT_TRUE(clone3_enosys);
  // Mandatory limits.
  ASSERT_TRUE(s.linux.resources.memory && s.linux.resources.memory->limit);
  EXPECT_GT(*s.linux.resources.memory->limit, 0);
  ASSERT_TRUE(s.linux.resources.pids);
  EXPECT_GT(s.linux.resources.pids->limit, 0);
  ASSERT_TRUE(s.linux.resources.cpu && s.linux.resources.cpu->quota);
  EXPECT_TRUE(has(s.linux.masked_paths, "/proc/pressure"));
  bool tmp = false;
  for (const auto& m : s.mounts) tmp = tmp || (m.destination == "/tmp" && m.type == "tmpfs");
  EXPECT_TRUE(tmp);
  EXPECT_TRUE(validate_spec(s));
}

TEST(Tiers, EveryTierScopesSignalsWithLandlockAndStrictRequiresIt) {
  auto c = apply_chroot_tier(base());
  auto k = apply_container_tier(base());
  auto s = apply_strict_tier(base());
  ASSERT_TRUE(c && k && s);
  EXPECT_EQ(c->spec.annotations.at(kLandlockAnnotation), "signal,abstract-unix");
  EXPECT_EQ(k->spec.annotations.at(kLandlockAnnotation), "signal,abstract-unix");
  EXPECT_EQ(s->spec.annotations.at(kLandlockAnnotation), "signal,abstract-unix,required");
}

TEST(Tiers, StrictKeepsGivenLimits) {
  TaskOptions t;
  t.rootfs = "/r";
  t.args = {"/bin/true"};
  t.memory_bytes = 1 << 20;
  t.pids = 7;
  auto s = build_task_spec(t);
  ASSERT_TRUE(s);
  auto r = apply_strict_tier(*s);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r->spec.linux.resources.memory->limit, 1 << 20);
  EXPECT_EQ(r->spec.linux.resources.pids->limit, 7);
}

TEST(TaskSpec, SizesAndDurations) {
  EXPECT_EQ(*parse_size("256M", "--memory"), 256ll << 20);
  EXPECT_EQ(*parse_size("1G", "--memory"), 1ll << 30);
  EXPECT_EQ(parse_size("-5M", "--memory").error().message(),
            "--memory: must not be negative: \"-5M\"");
  EXPECT_EQ(parse_size("5X", "--memory").error().message(),
            "--memory: unknown size suffix \"X\" (use k, M or G)");
  EXPECT_EQ(*parse_duration_ms("30s", "--timeout"), 30000);
  EXPECT_EQ(*parse_duration_ms("250ms", "--timeout"), 250);
  EXPECT_EQ(*parse_duration_ms("2m", "--timeout"), 120000);
}

TEST(TaskSpec, ReadOnlyVolumesAreNoexecUnlessAsked) {
  TaskOptions t;
  t.rootfs = "/r";
  t.args = {"/bin/true"};
  t.volumes = {{"/data", "/in", true, false}, {"/tools", "/tools", true, true}};
  auto s = build_task_spec(t);
  ASSERT_TRUE(s);
  EXPECT_TRUE(has(s->mounts[0].options, "ro"));
  EXPECT_TRUE(has(s->mounts[0].options, "noexec"));
  EXPECT_TRUE(has(s->mounts[0].options, "nosuid"));
  EXPECT_TRUE(has(s->mounts[0].options, "nodev"));
  EXPECT_FALSE(has(s->mounts[1].options, "noexec"));
}

}  // namespace
}  // namespace clawcage::spec
