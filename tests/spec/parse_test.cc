#include "spec/parse.h"

#include <gtest/gtest.h>

namespace clawcage::spec {
namespace {

TEST(SpecParse, Placeholder) { EXPECT_TRUE(parse_spec("{}").ok() == false); }

}  // namespace
}  // namespace clawcage::spec
