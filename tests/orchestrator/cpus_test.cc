// Exclusive cores: CPU lists and the pool's bookkeeping.
#include "orchestrator/cpus.h"

#include <gtest/gtest.h>

namespace clawcage::orchestrator {
namespace {

TEST(CpuList, ParsesAndFormats) {
  auto s = parse_cpu_list("0-3,6,8-9\n", "cpu_pool");
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(*s, (std::set<int>{0, 1, 2, 3, 6, 8, 9}));
  EXPECT_EQ(format_cpu_list(*s), "0-3,6,8-9");
  EXPECT_EQ(format_cpu_list({5}), "5");
  for (const char* bad : {"", "a", "3-1", "1,,2", "-1", "1-", "0-99999"}) {
    auto r = parse_cpu_list(bad, "cpu_pool");
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message().find("cpu_pool"), std::string::npos);
  }
  auto online = online_cpus();
  ASSERT_TRUE(online) << online.error().message();
  EXPECT_FALSE(online->empty());
}

TEST(CpuPool, GrantsFreeCoresAndRefusesBeyond) {
  CpuPool pool({0, 1, 2, 3}, 1);
  EXPECT_EQ(pool.pinnable(), 3u);
  EXPECT_TRUE(pool.reserve("a", 2));
  EXPECT_FALSE(pool.reserve("b", 2));  // one left
  EXPECT_TRUE(pool.reserve("b", 1));
  EXPECT_EQ(pool.free(), 0u);
  EXPECT_EQ(pool.shared(), (std::set<int>{0, 1, 2, 3}));  // reserved, not yet pinned
  auto a = pool.pin("a");
  EXPECT_EQ(a, (std::set<int>{2, 3}));
  EXPECT_EQ(pool.shared(), (std::set<int>{0, 1}));
  EXPECT_EQ(pool.pin("b"), (std::set<int>{1}));
  EXPECT_EQ(pool.shared(), (std::set<int>{0}));
  EXPECT_NE(pool.holders().find("a (cpu 2-3)"), std::string::npos);
  EXPECT_TRUE(pool.release("a"));
  EXPECT_FALSE(pool.release("a"));
  EXPECT_EQ(pool.shared(), (std::set<int>{0, 2, 3}));
  EXPECT_EQ(pool.free(), 2u);
}

TEST(CpuPool, AdoptsRunningTasksAfterARestart) {
  CpuPool pool({0, 1}, 1);
  pool.adopt("x", {1});
  EXPECT_EQ(pool.free(), 0u);
  EXPECT_FALSE(pool.reserve("y", 1));
  EXPECT_EQ(pool.shared(), (std::set<int>{0}));
}

}  // namespace
}  // namespace clawcage::orchestrator
