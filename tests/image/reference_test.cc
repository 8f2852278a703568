#include "image/reference.h"

#include <gtest/gtest.h>

namespace clawcage::image {
namespace {

TEST(DockerReference, NormalisesLikeContainersImage) {
  struct Case {
    const char *in, *out;
  };
  for (auto c : std::vector<Case>{{"busybox", "docker.io/library/busybox:latest"},
                                  {"user/app:2", "docker.io/user/app:2"},
                                  {"localhost/agent:1", "localhost/agent:1"},
                                  {"reg.example.com:5000/ns/x", "reg.example.com:5000/ns/x:latest"},
                                  {"index.docker.io/library/a:b", "docker.io/library/a:b"}}) {
    auto r = parse_docker_reference(c.in);
    ASSERT_TRUE(r) << c.in << ": " << r.error().message();
    EXPECT_EQ(r->str(), c.out) << c.in;
  }
  std::string digest = "sha256:" + std::string(64, 'a');
  auto d = parse_docker_reference("localhost/agent@" + digest);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->tag, "");
  EXPECT_EQ(d->digest, digest);
  // A signed identity may name a repository only.
  auto repo = parse_docker_reference("localhost/plugin", "id", false);
  ASSERT_TRUE(repo);
  EXPECT_EQ(repo->str(), "localhost/plugin");
}

TEST(DockerReference, BadInputNamesTheField) {
  for (const char* bad : {"", "UPPER/Case", "a//b", "x:bad tag", "x@sha256:short", "-lead"}) {
    auto r = parse_docker_reference(bad, "image");
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().message().rfind("image: ", 0), 0u) << r.error().message();
  }
  EXPECT_FALSE(parse_docker_repository("localhost/a:1"));
}

TEST(DockerReference, PolicyScopesGoFromSpecificToGeneral) {
  auto r = parse_docker_reference("a.b.example.com:5000/ns/app:1");
  ASSERT_TRUE(r);
  std::vector<std::string> want = {"a.b.example.com:5000/ns/app:1",
                                   "a.b.example.com:5000/ns/app",
                                   "a.b.example.com:5000/ns",
                                   "a.b.example.com:5000",
                                   "*.b.example.com",
                                   "*.example.com",
                                   "*.com"};
  EXPECT_EQ(docker_policy_scopes(*r), want);
  std::vector<std::string> dirs = {"/srv/images/agent", "/srv/images", "/srv"};
  EXPECT_EQ(dir_policy_scopes("/srv/images/agent/"), dirs);
}

}  // namespace
}  // namespace clawcage::image
