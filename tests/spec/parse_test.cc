#include "spec/parse.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "spec/validate.h"

namespace clawcage::spec {
namespace {

const char* kMinimal = R"({
  "ociVersion": "1.0.2",
  "process": {"args": ["/bin/true"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
  "root": {"path": "rootfs"},
  "linux": {"namespaces": [{"type": "mount"}]}
})";

std::string with(const std::string& field_json) {
  // Replaces the "linux" member of kMinimal.
  std::string s = kMinimal;
  auto pos = s.find("\"linux\"");
  return s.substr(0, pos) + field_json + "\n}";
}

std::string error_of(const std::string& json) {
  auto r = parse_spec(json);
  return r ? "" : r.error().message();
}

TEST(SpecParse, MinimalSpecParses) {
  auto r = parse_spec(kMinimal);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->process.args[0], "/bin/true");
  EXPECT_EQ(r->root.path, "rootfs");
  EXPECT_TRUE(r->has_namespace("mount"));
  EXPECT_TRUE(validate_spec(*r));
}

TEST(SpecParse, MalformedJsonSaysWhere) {
  std::string e = error_of("{\"ociVersion\": ");
  EXPECT_NE(e.find("config.json"), std::string::npos) << e;
  EXPECT_NE(e.find("malformed JSON"), std::string::npos) << e;
}

TEST(SpecParse, ErrorsNameTheField) {
  EXPECT_EQ(error_of(with(R"("linux": {"resources": {"memory": {"limit": "lots"}}})")),
            "linux.resources.memory.limit: expected integer");
  EXPECT_EQ(error_of(with(R"("linux": {"resources": {"memory": {"limit": -5}}})")),
            "linux.resources.memory.limit: out of range (-1..9223372036854775807)");
  EXPECT_EQ(error_of(with(R"("linux": {"resources": {"pids": {"limit": -2}}})")),
            "linux.resources.pids.limit: out of range (-1..9223372036854775807)");
  EXPECT_EQ(error_of(with(R"("linux": {"namespaces": [{"type": "bogus"}]})")),
            "linux.namespaces[0].type: unknown namespace type \"bogus\"");
  EXPECT_EQ(error_of(with(R"("linux": {"seccomp": {"syscalls": []}})")),
            "linux.seccomp: defaultAction: required");
  EXPECT_EQ(error_of(with(R"("mounts": [{"destination": "tmp", "type": "tmpfs"}])")),
            "mounts[0].destination: expected an absolute path");
  EXPECT_EQ(error_of(R"({"ociVersion": "2.0.0"})"),
            "ociVersion: unsupported version \"2.0.0\" (need 1.x)");
  EXPECT_EQ(error_of(R"({"ociVersion": "1.0.2", "root": {"path": "r"}})"), "process: required");
}

TEST(SpecParse, UnsupportedFieldsAreRefusedNotIgnored) {
  EXPECT_NE(
      error_of(with(R"("linux": {"resources": {"blockIO": {"weight": 10}}})")).find("blockIO"),
      std::string::npos);
  EXPECT_EQ(error_of(with(R"("hooks": {"postStart": [{"path": "/bin/true"}]})")),
            "hooks: postStart: unknown hook kind");
}

TEST(SpecParse, HooksAreParsedCheckedAndRoundTrip) {
  auto r = parse_spec(with(R"("hooks": {"prestart": [{"path": "/bin/true"}],
    "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 0"], "env": ["A=1"],
    "timeout": 5}], "poststop": [{"path": "/bin/false"}]})"));
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->hooks.create_runtime.size(), 1u);
  EXPECT_EQ(r->hooks.create_runtime[0].args[2], "exit 0");
  EXPECT_EQ(*r->hooks.create_runtime[0].timeout, 5);
  auto again = parse_spec(to_json(*r));
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->hooks.prestart[0].path, "/bin/true");
  EXPECT_EQ(again->hooks.create_runtime[0].env, std::vector<std::string>{"A=1"});
  EXPECT_EQ(again->hooks.poststop[0].path, "/bin/false");
  EXPECT_FALSE(again->hooks.create_runtime[0].timeout != 5);
  EXPECT_EQ(error_of(with(R"("hooks": {"prestart": [{"path": "true"}]})")),
            "hooks.prestart[0].path: must be an absolute path, got \"true\"");
  EXPECT_EQ(error_of(with(R"("hooks": {"poststart": [{"path": "/bin/true", "timeout": 0}]})")),
            "hooks.poststart[0].timeout: out of range (1..86400)");
}

TEST(SpecParse, RoundTripsThroughJson) {
  auto r = parse_spec(with(R"("linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}],
    "resources": {"memory": {"limit": 1048576}, "cpu": {"quota": 50000, "period": 100000},
    "pids": {"limit": 10}}, "maskedPaths": ["/proc/kcore"]})"));
  ASSERT_TRUE(r) << r.error().message();
  auto again = parse_spec(to_json(*r));
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(*again->linux.resources.memory->limit, 1048576);
  EXPECT_EQ(again->linux.resources.pids->limit, 10);
  EXPECT_EQ(again->linux.masked_paths, r->linux.masked_paths);
}

TEST(SpecValidate, CatchesSemanticErrors) {
  auto r = parse_spec(kMinimal);
  ASSERT_TRUE(r);
  Spec s = *r;
  s.process.capabilities.bounding = {"CAP_BOGUS"};
  EXPECT_EQ(validate_spec(s).error().message(),
            "process.capabilities.bounding[0]: unknown capability \"CAP_BOGUS\"");
  s = *r;
  s.linux.namespaces.push_back({"user", ""});
  EXPECT_EQ(validate_spec(s).error().message(),
            "linux.uidMappings: required with a user namespace");
  s = *r;
  s.process.rlimits.push_back({"RLIMIT_BOGUS", 1, 1});
  EXPECT_EQ(validate_spec(s).error().message(),
            "process.rlimits[0].type: unknown rlimit \"RLIMIT_BOGUS\"");
  s = *r;
  s.process.terminal = true;
  EXPECT_EQ(validate_spec(s).error().message(),
            "process.terminal: not supported yet: run with stdio (pipes or files)");
  s = *r;
  s.linux.namespaces = {};
  EXPECT_EQ(validate_spec(s).error().message(), "linux.namespaces: a mount namespace is required");
}

// Every node of a full config replaced by every JSON type: parsing gives a result or an
// error naming a field, and never throws or crashes.
void mutate_all(nlohmann::json& node, nlohmann::json& root, int& checked) {
  static const nlohmann::json kValues[] = {
      nullptr, 1, -1, "x", nlohmann::json::array(), nlohmann::json::object(), true, 1.5};
  for (const auto& v : kValues) {
    nlohmann::json saved = node;
    node = v;
    auto r = parse_spec(root.dump());
    if (!r) {
      // Named by our own checks, not by the JSON library's last-resort exception.
      EXPECT_EQ(r.error().message().find("json.exception"), std::string::npos)
          << r.error().message();
    }
    ++checked;
    node = saved;
  }
  if (node.is_object())
    for (auto& [k, child] : node.items()) mutate_all(child, root, checked);
  if (node.is_array())
    for (auto& child : node) mutate_all(child, root, checked);
}

TEST(SpecParse, NoInputCrashesTheParser) {
  // A rich config: the strict tier's, with a seccomp profile, mounts and limits.
  auto full = parse_spec(kMinimal);
  ASSERT_TRUE(full);
  Spec s = *full;
  s.linux.seccomp =
      Seccomp{"SCMP_ACT_ERRNO",
              1u,
              {"SCMP_ARCH_X86_64"},
              {},
              {{{"clone"}, "SCMP_ACT_ALLOW", std::nullopt, {{0, 1, 1, "SCMP_CMP_MASKED_EQ"}}}}};
  s.mounts = {{"/tmp", "tmpfs", "tmpfs", {"nosuid"}}};
  s.linux.resources.memory = MemoryResources{};
  s.linux.resources.memory->limit = 1 << 20;
  s.linux.uid_mappings = {{0, 100000, 65536}};
  s.process.rlimits = {{"RLIMIT_NOFILE", 10, 10}};
  nlohmann::json root = nlohmann::json::parse(to_json(s));
  int checked = 0;
  mutate_all(root, root, checked);
  EXPECT_GT(checked, 200);
}

TEST(SpecParse, DefaultSeccompProfileLoads) {
  auto p = default_seccomp_profile();
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->default_action, "SCMP_ACT_ERRNO");
  EXPECT_GT(p->syscalls.size(), 3u);
}

}  // namespace
}  // namespace clawcage::spec

namespace clawcage::spec {
namespace {

TEST(SpecValidate, OnlyNamespacedSysctlsOfOwnNamespaces) {
  auto r = parse_spec(kMinimal);
  ASSERT_TRUE(r);
  Spec s = *r;
  s.linux.namespaces = {{"mount", ""}, {"network", ""}, {"ipc", ""}};
  s.linux.sysctl = {{"net.ipv4.ping_group_range", "0 0"}, {"kernel.shmmax", "1000000"}};
  EXPECT_TRUE(validate_spec(s).ok()) << validate_spec(s).error().message();
  s.linux.sysctl = {{"kernel.panic", "1"}};
  EXPECT_EQ(validate_spec(s).error().message(),
            "linux.sysctl.kernel.panic: not namespaced: writing it would change the host");
  s.linux.sysctl = {{"net.ipv4..ip_forward", "1"}};
  EXPECT_EQ(validate_spec(s).error().message(),
            "linux.sysctl.net.ipv4..ip_forward: not a sysctl name");
  s.linux.sysctl = {{"net/../../kernel/panic", "1"}};
  EXPECT_NE(validate_spec(s).error().message().find("not a sysctl name"), std::string::npos);
  s.linux.namespaces = {{"mount", ""}};
  s.linux.sysctl = {{"net.ipv4.ip_forward", "1"}};
  EXPECT_EQ(validate_spec(s).error().message(),
            "linux.sysctl.net.ipv4.ip_forward: needs the sandbox's own network namespace");
}

}  // namespace
}  // namespace clawcage::spec
