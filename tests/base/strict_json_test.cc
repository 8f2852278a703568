#include "base/strict_json.h"

#include <gtest/gtest.h>

namespace clawcage {
namespace {

TEST(StrictJson, DuplicateKeysAnywhereAreRefused) {
  EXPECT_TRUE(parse_strict_json(R"({"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]})", "f"));
  for (const char* bad : {R"({"a":1,"a":2})", R"({"x":{"k":1,"k":1}})", R"([{"k":1,"k":2}])"}) {
    auto r = parse_strict_json(bad, "policy.json");
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message().find("policy.json: duplicate key"), std::string::npos)
        << r.error().message();
  }
  auto r = parse_strict_json("{", "p.json");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "p.json: not valid JSON");
}

TEST(StrictJson, OnlyKnownKeys) {
  auto j = nlohmann::json::parse(R"({"a":1,"zz":2})");
  EXPECT_TRUE(only_keys(j, "x", {"a", "zz"}));
  auto r = only_keys(j, "x", {"a"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "x.zz: unknown field");
  EXPECT_FALSE(only_keys(nlohmann::json::array(), "x", {}));
}

}  // namespace
}  // namespace clawcage
